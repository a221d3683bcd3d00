"""Default HT-Demucs adapter targets and the guide's `layer_ranks` globs."""

from __future__ import annotations

from fnmatch import fnmatchcase

import torch.nn as nn

# Transformer attention (q/k/v/out through PEFT's MultiheadAttention support) and FFN, plus the
# encoder and decoder convolutions of both branches: conv, 1x1 rewrite, ConvTranspose.
HTDEMUCS_TARGETS = [
    "crosstransformer.layers.*.self_attn",
    "crosstransformer.layers.*.cross_attn",
    "crosstransformer.layers_t.*.self_attn",
    "crosstransformer.layers_t.*.cross_attn",
    "crosstransformer.layers*.linear1",
    "crosstransformer.layers*.linear2",
    "encoder.*.conv",
    "encoder.*.rewrite",
    "tencoder.*.conv",
    "tencoder.*.rewrite",
    "decoder.*.conv_tr",
    "decoder.*.rewrite",
    "tdecoder.*.conv_tr",
    "tdecoder.*.rewrite",
]

# The seed guide writes `transformer.*` for demucs's cross-transformer (named `crosstransformer`).
GLOB_ALIASES = {"transformer.": "crosstransformer."}


def default_targets(model: nn.Module) -> list[str]:
    """The default globs that match something in `model` (HDemucs has no transformer)."""
    names = [n for n, _ in model.named_modules()]
    return [g for g in HTDEMUCS_TARGETS if any(fnmatchcase(n, g) for n in names)]


def resolve_aliases(globs: dict, model: nn.Module) -> dict:
    """Rewrite guide-style globs that match nothing (`transformer.*`) to demucs's module names."""
    names = [n for n, _ in model.named_modules()]
    out = {}
    for glob, value in globs.items():
        if not any(fnmatchcase(n, glob) for n in names):
            for old, new in GLOB_ALIASES.items():
                if glob.startswith(old):
                    glob = new + glob[len(old) :]
        out[glob] = value
    return out
