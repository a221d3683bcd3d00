"""Seed 002's LoRA target list, and how its entries resolve on the v2a DiT.

The seed writes `joint_blocks[*].latent_block.ffn`; `[*]` (an index) becomes the glob `.*`, and a
glob naming a container (MMAudio's `ffn` is an MLP of three Linears) adapts the Linears inside it,
as MMAudio's own LoRA does.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase

import torch.nn as nn

SEED_002_TARGETS = [
    "joint_blocks[*].latent_block.attn.qkv",
    "joint_blocks[*].latent_block.ffn",
    "joint_blocks[*].clip_block.attn.qkv",
    "joint_blocks[*].clip_block.ffn",
    "joint_blocks[*].text_block.attn.qkv",
    "joint_blocks[*].text_block.ffn",
    "fused_blocks[*].attn.qkv",
    "fused_blocks[*].ffn",
]


def expand_targets(model: nn.Module, globs: list[str]) -> list[str]:
    """Globs for the adapter engine: `[*]` -> `.*`; a glob matching only containers -> `glob.*`."""
    out = []
    for glob in globs:
        glob = re.sub(r"\[\*\]", ".*", glob)
        hits = [m for n, m in model.named_modules() if n and fnmatchcase(n, glob)]
        if hits and not any(isinstance(m, nn.Linear) for m in hits):
            glob = f"{glob}.*"
        out.append(glob)
    return out
