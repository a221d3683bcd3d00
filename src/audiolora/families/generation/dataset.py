"""Training items from a latent cache: random crops in latent frames, per-item noise seeds.

Every random draw of an item (its crop, its noise, its noise level, its CFG dropout) comes from
(seed, epoch, index) only, so a resumed run draws exactly what an uninterrupted one would.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from .cache import LatentCache


class LatentClips(Dataset):
    """Cached clips `indices` of `cache`, cropped to `window` latent frames."""

    def __init__(
        self,
        cache: LatentCache,
        indices: list[int],
        window: int,
        seed: int = 0,
        random_crop: bool = True,
    ):
        self.cache = cache
        self.indices = list(indices)
        self.window = int(window)
        self.seed = int(seed)
        self.random_crop = random_crop
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        clip = self.indices[index]
        latents = self.cache.latents(clip)
        frames = latents.shape[0]
        epoch = self.epoch if self.random_crop else 0
        rng = np.random.default_rng([self.seed, epoch, index, 7])
        start = 0
        if frames > self.window and self.random_crop:
            start = int(rng.integers(0, frames - self.window + 1))
        crop = latents[start : start + self.window]
        mask = torch.ones(crop.shape[0], dtype=torch.uint8)
        cond = self.cache.condition(clip)
        return {
            "latents": crop,
            "frame_mask": mask,
            "encoder_hidden_states": cond["encoder_hidden_states"],
            "encoder_attention_mask": cond["encoder_attention_mask"],
            "noise_seed": torch.tensor(int(rng.integers(0, 2**62)), dtype=torch.int64),
        }


def _pad_stack(tensors: list[torch.Tensor]) -> torch.Tensor:
    longest = max(t.shape[0] for t in tensors)
    return torch.stack(
        [F.pad(t, (0, 0) * (t.dim() - 1) + (0, longest - t.shape[0])) for t in tensors]
    )


def collate_clips(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Pad latents and conditions to the longest in the batch; masks mark the real frames."""
    return {
        "latents": _pad_stack([i["latents"] for i in items]),
        "frame_mask": _pad_stack([i["frame_mask"] for i in items]),
        "encoder_hidden_states": _pad_stack([i["encoder_hidden_states"] for i in items]),
        "encoder_attention_mask": _pad_stack([i["encoder_attention_mask"] for i in items]),
        "noise_seed": torch.stack([i["noise_seed"] for i in items]),
    }
