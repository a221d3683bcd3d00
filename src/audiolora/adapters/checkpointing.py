"""Gradient checkpointing for models without a built-in switch (demucs's HTDemucs has none).

Each chosen block's forward is run under `torch.utils.checkpoint` (non-reentrant, so frozen inputs,
keyword arguments and tuple outputs work) while training with gradients enabled; activations inside
the block are recomputed in the backward pass instead of being kept.
"""

from __future__ import annotations

import functools

import torch.nn as nn
from torch.utils.checkpoint import checkpoint

from ..errors import AudioloraError

# HTDemucs's blocks: spectral/temporal encoder and decoder layers and the cross-transformer layers.
HTDEMUCS_BLOCKS = (
    "encoder",
    "decoder",
    "tencoder",
    "tdecoder",
    "crosstransformer.layers",
    "crosstransformer.layers_t",
)


def _blocks(model: nn.Module, containers) -> list[nn.Module]:
    out = []
    for name in containers:
        try:
            container = model.get_submodule(name)
        except AttributeError:
            continue
        out.extend(container.children() if isinstance(container, nn.ModuleList) else [container])
    return out


def enable_gradient_checkpointing(
    model: nn.Module, containers: tuple[str, ...] = HTDEMUCS_BLOCKS, enabled: bool = True
) -> int:
    """Checkpoint every block in the ModuleLists `containers` (default: HTDemucs's); returns how many.

    `enabled=False` restores the plain forwards.
    """
    blocks = _blocks(model, containers)
    if enabled and not blocks:
        raise AudioloraError(
            f"gradient checkpointing: none of {list(containers)} found in the model"
        )
    for block in blocks:
        if not enabled:
            block.__dict__.pop("forward", None)
            continue
        if "forward" in block.__dict__:
            continue
        plain = type(block).forward.__get__(block)

        @functools.wraps(plain)
        def forward(*args, _plain=plain, _block=block, **kwargs):
            import torch

            if _block.training and torch.is_grad_enabled():
                return checkpoint(_plain, *args, use_reentrant=False, **kwargs)
            return _plain(*args, **kwargs)

        block.forward = forward
    return len(blocks)
