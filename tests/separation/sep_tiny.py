"""Tiny random-init demucs models (the real classes), saved in demucs's own formats."""

from __future__ import annotations

import torch
from demucs.hdemucs import HDemucs
from demucs.htdemucs import HTDemucs

# A non-alphabetical source order, so that any code assuming an order is caught.
ODD_ORDER = ["vocals", "drums", "other", "bass"]
SR = 8000


def tiny_htdemucs(sources=ODD_ORDER, seed: int = 0) -> HTDemucs:
    torch.manual_seed(seed)
    return HTDemucs(
        sources=list(sources),
        audio_channels=2,
        samplerate=SR,
        segment=2,
        channels=8,
        depth=2,
        nfft=256,
        t_layers=1,
        t_heads=2,
        t_hidden_scale=1.0,
        bottom_channels=0,
        dconv_mode=3,
        t_dropout=0.0,
    ).eval()


def tiny_hdemucs(sources=ODD_ORDER, seed: int = 0) -> HDemucs:
    torch.manual_seed(seed)
    return HDemucs(
        sources=list(sources),
        audio_channels=2,
        samplerate=SR,
        segment=2,
        channels=8,
        depth=3,
        nfft=64,
    ).eval()


# Linked stems are the base's outputs up to float32 rounding: the relinked last decoder layers have
# another number of output channels, so a CPU may run them with other kernels (seen: 1e-7 relative
# on AMD EPYC without AVX-512, 0 with it). 1e-6 of the output's peak is a few float32 ulps.
LINK_RTOL = 1e-6


def assert_f32_close(actual: torch.Tensor, expected: torch.Tensor, what: str = "") -> None:
    """`actual` equals `expected` to float32 rounding: max |diff| <= LINK_RTOL x max |expected|."""
    gap = (actual - expected).abs().max().item()
    scale = expected.abs().max().item()
    assert gap <= LINK_RTOL * scale, f"{what}: max |diff| {gap:.3g} > {LINK_RTOL:g} x {scale:.3g}"


def save_th(model, path):
    """A `.th` package exactly as demucs.states.serialize_model writes it (minus training args)."""
    args, kwargs = model._init_args_kwargs
    torch.save(
        {"klass": type(model), "args": args, "kwargs": kwargs, "state": model.state_dict()}, path
    )
    return path
