"""Cached-clip datasets, the flow-matching loss on a batch, and Euler sampling for the v2a DiT."""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn as nn
from torch.utils.data import Dataset

from ..generation.objective import (
    cfg_dropout_mask,
    flow_matching_loss,
    noisy_latents_and_target,
    sample_sigmas,
)
from .features import load_clip_features

CONDITIONS = ("clip", "sync", "text")


class CachedClips(Dataset):
    """The cached clips of some splits; items are dicts of tensors plus their `index`."""

    def __init__(self, cache_dir, manifest: dict, splits: tuple[str, ...]):
        self.cache_dir = cache_dir
        self.entries = [c for c in manifest["clips"] if c["split"] in splits]

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = load_clip_features(self.cache_dir, self.entries[i]["id"])
        item["index"] = torch.tensor(i)
        return item


def model_inputs(batch: dict[str, torch.Tensor], drop: torch.Tensor | None = None) -> dict:
    """The DiT's conditioning from a batch; `drop` [B] zeroes a sample's conditions (the CFG null)."""
    out = {k: batch[k] for k in CONDITIONS}
    if drop is not None and bool(drop.any()):
        keep = (~drop.to(batch["latents"].device)).to(batch["latents"].dtype).view(-1, 1, 1)
        out = {k: v * keep for k, v in out.items()}
    out["text_mask"] = batch["text_mask"]
    return out


def batch_loss(
    model: nn.Module,
    batch: dict,
    generator: torch.Generator | None,
    mean: float = 0.0,
    std: float = 1.0,
    cfg_dropout: float = 0.0,
) -> torch.Tensor:
    """Flow-matching velocity loss of one batch (noise and sigma from `generator`, or torch's RNG)."""
    x0 = batch["latents"]
    b = x0.shape[0]
    sigma = sample_sigmas(b, generator, mean, std, device=x0.device)
    noise = torch.randn(x0.shape, generator=generator).to(x0) if generator else torch.randn_like(x0)
    xt, target = noisy_latents_and_target(x0, noise, sigma)
    drop = cfg_dropout_mask(b, cfg_dropout, generator)
    pred = model(xt, sigma.to(x0.dtype), **model_inputs(batch, drop))
    return flow_matching_loss(pred, target)


@torch.no_grad()
def sample_latents(
    model: nn.Module, batch: dict, steps: int, seed: int, guidance: float = 1.0
) -> torch.Tensor:
    """Euler integration of the velocity from noise (sigma 1) to sigma 0, diffusers' convention."""
    x0 = batch["latents"]
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(x0.shape, generator=g).to(x0)
    cond = model_inputs(batch)
    null = model_inputs(batch, torch.ones(x0.shape[0], dtype=torch.bool)) if guidance != 1 else None
    sigmas = torch.linspace(1.0, 0.0, steps + 1)
    for s, s_next in zip(sigmas[:-1], sigmas[1:], strict=True):
        t = torch.full((x0.shape[0],), float(s), dtype=x0.dtype, device=x0.device)
        v = model(x, t, **cond)
        if null is not None:
            u = model(x, t, **null)
            v = u + guidance * (v - u)
        x = x + (s_next - s) * v
    return x


@contextmanager
def adapter_off(model: nn.Module):
    """The base model's output: the adapter's weight set to 0, then back to 1 (trainable again)."""
    from ...adapters import adapters_of, set_adapter_weights

    names = list(adapters_of(model))
    set_adapter_weights(model, dict.fromkeys(names, 0.0))
    try:
        yield model
    finally:
        set_adapter_weights(model, dict.fromkeys(names, 1.0))
