"""Batch-level augmentation of stem batches `[B, S, C, T]` (the demucs recipe, on GPU or CPU).

Every random draw comes from the `torch.Generator` passed in, never from global state; the separation
family seeds it from (run seed, epoch, the micro-batch's item indices), so a resumed run, any number
of DataLoader workers and every process of a multi-process run get the same augmentation. Pitch shift
and tempo change are done at render time instead (`audiolora data render`), where the notes stay
exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def random_gain(
    stems: torch.Tensor, generator: torch.Generator, low: float = 0.25, high: float = 1.25
) -> torch.Tensor:
    """Scale each stem of each example by a factor drawn uniformly from [low, high]."""
    b, s = stems.shape[:2]
    scale = torch.rand(b, s, 1, 1, generator=generator, device=generator.device)
    scale = low + (high - low) * scale
    return stems * scale.to(stems.device, stems.dtype)


def remix(stems: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Shuffle each stem independently across the batch: new mixtures of stems from other tracks."""
    b, s = stems.shape[:2]
    if b < 2:
        return stems
    perms = torch.stack(
        [torch.randperm(b, generator=generator, device=generator.device) for _ in range(s)], dim=1
    ).to(stems.device)  # [B, S]: which example each stem comes from
    index = perms[:, :, None, None].expand_as(stems)
    return torch.gather(stems, 0, index)


def flip_polarity(stems: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Multiply each stem of each example by +1 or -1."""
    b, s = stems.shape[:2]
    sign = torch.randint(0, 2, (b, s, 1, 1), generator=generator, device=generator.device)
    return stems * (2 * sign - 1).to(stems.device, stems.dtype)


def swap_channels(stems: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Swap left and right of each stem of each example with probability 1/2 (stereo only)."""
    b, s, c = stems.shape[:3]
    if c != 2:
        return stems
    swap = torch.randint(0, 2, (b, s, 1, 1), generator=generator, device=generator.device).to(
        stems.device, torch.bool
    )
    return torch.where(swap, stems.flip(2), stems)


@dataclass
class StemAugment:
    """The training augmentation chain: remix, gain, polarity, channel swap (each switchable).

    `augment(stems, generator)` returns a new `[B, S, C, T]` tensor; the mixture of an augmented
    example is still the sum of its stems.
    """

    gain: tuple[float, float] | None = (0.25, 1.25)
    remix: bool = True
    polarity: bool = True
    channel_swap: bool = True

    def __call__(self, stems: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if stems.dim() != 4:
            raise ValueError(
                f"augmentation expects [batch, stems, channels, time], got {tuple(stems.shape)}"
            )
        if self.remix:
            stems = remix(stems, generator)
        if self.gain is not None:
            stems = random_gain(stems, generator, *self.gain)
        if self.polarity:
            stems = flip_polarity(stems, generator)
        if self.channel_swap:
            stems = swap_channels(stems, generator)
        return stems
