"""The order training items are drawn in: a permutation seeded from (run.seed, epoch), split across
processes, cut into micro-batches, and able to start mid-epoch for exact resume."""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A torch.Generator that depends only on the run seed and the epoch."""
    g = torch.Generator()
    g.manual_seed(seed * 1_000_003 + epoch)
    return g


class EpochBatchSampler(Sampler[list[int]]):
    """Micro-batches of dataset indices for one epoch.

    The permutation is the same on every process; process `rank` of `world` takes every
    world-th index (padded by wrapping so all processes run the same number of steps, as
    DistributedSampler does). `start` skips that many micro-batches (resume).
    """

    def __init__(
        self,
        size: int,
        batch_size: int,
        seed: int,
        epoch: int,
        start: int = 0,
        rank: int = 0,
        world: int = 1,
    ):
        self.size, self.batch_size = size, batch_size
        self.seed, self.epoch, self.start = seed, epoch, start
        self.rank, self.world = rank, world

    def indices(self) -> list[int]:
        perm = torch.randperm(self.size, generator=epoch_generator(self.seed, self.epoch)).tolist()
        per_rank = math.ceil(self.size / self.world)
        padded = (perm * math.ceil(per_rank * self.world / self.size))[: per_rank * self.world]
        return padded[self.rank :: self.world]

    def batches(self) -> list[list[int]]:
        idx = self.indices()
        return [idx[i : i + self.batch_size] for i in range(0, len(idx), self.batch_size)]

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.batches()[self.start :]

    def __len__(self) -> int:
        return max(0, micro_batches_per_epoch(self.size, self.batch_size, self.world) - self.start)


def micro_batches_per_epoch(size: int, batch_size: int, world: int = 1) -> int:
    """Micro-batches one process sees per epoch (the last one may be smaller)."""
    return math.ceil(math.ceil(size / world) / batch_size)


def steps_per_epoch(size: int, batch_size: int, grad_accum: int, world: int = 1) -> int:
    """Optimizer steps per epoch; a partial accumulation at the end still makes a step."""
    return math.ceil(micro_batches_per_epoch(size, batch_size, world) / grad_accum)
