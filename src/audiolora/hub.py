"""Find a base model by name or path: built-in builders, then separation bases and files.

Below the families: it imports only their loaders (`families.separation.loading`, the Basic Pitch
model), never a Family, so a family may import the hub.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch.nn as nn

from .errors import AudioloraError

_BUILTIN: dict[str, Callable[[], nn.Module]] = {}


def register(name: str):
    """Decorator: register a zero-argument builder for a named model."""

    def wrap(fn: Callable[[], nn.Module]) -> Callable[[], nn.Module]:
        _BUILTIN[name] = fn
        return fn

    return wrap


@register("htdemucs-tiny")
def _htdemucs_tiny() -> nn.Module:
    """A tiny random-init HTDemucs (same class and layer kinds as htdemucs), for inspection and tests."""
    from demucs.htdemucs import HTDemucs

    return HTDemucs(
        sources=["drums", "bass", "other", "vocals"],
        channels=8,
        depth=2,
        nfft=512,
        t_layers=1,
        t_heads=2,
        t_hidden_scale=2.0,
        bottom_channels=0,
        dconv_mode=3,
        samplerate=44100,
        segment=2,
    )


@register("basic-pitch")
def _basic_pitch() -> nn.Module:
    """Spotify's Basic Pitch (ICASSP 2022) with its released weights, bundled in assets/basic_pitch/."""
    from .families.transcription.model import load_basic_pitch

    return load_basic_pitch()


def builtin_names() -> list[str]:
    return sorted(_BUILTIN)


def load_model(name_or_path: str) -> nn.Module:
    """A model from a built-in name or a local checkpoint; a clear one-line error otherwise."""
    if name_or_path in _BUILTIN:
        return _BUILTIN[name_or_path]()
    from .families.separation.loading import is_known_name, known_names, load_separation_model

    # a local file; htdemucs-mini (bundled), demucs names (htdemucs, ...) and `htdemucs_ft:N` members
    if Path(name_or_path).exists() or is_known_name(name_or_path):
        return load_separation_model(name_or_path)
    known = ", ".join(builtin_names() + list(known_names()))
    raise AudioloraError(f"{name_or_path}: no such model or file (known names: {known})")
