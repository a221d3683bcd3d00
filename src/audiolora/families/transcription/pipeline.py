"""Separate-then-transcribe: split a mix into stems with a separation model (demucs's apply_model),
transcribe each stem with its own adapter (the base where none is given), one MIDI track per stem."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ...errors import UsageError
from .inference import to_mono_22k, transcribe_audio
from .note_creation import NoteEvent


def parse_adapter_map(text: str | None) -> dict[str, str]:
    """`bass=runs/bass/best,alto=...` -> {"bass": "runs/bass/best", ...}."""
    out: dict[str, str] = {}
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        stem, sep, path = part.partition("=")
        if not sep or not stem.strip() or not path.strip():
            raise UsageError(
                f"--adapters: {part!r} must look like STEM=ADAPTER_DIR (e.g. bass=runs/bass/best)"
            )
        out[stem.strip()] = path.strip()
    return out


def separate(
    audio: np.ndarray, samplerate: int, model_name: str, adapter: str | None = None
) -> dict[str, np.ndarray]:
    """Stems `{name: [C, T]}` of `[C, T]` audio with a demucs model (and its adapter when given)."""
    from demucs.apply import apply_model

    from ...audio import resample
    from ...hub import load_model

    model = load_model(model_name)  # built-in names (htdemucs-tiny), separation names, files
    if adapter is not None:
        from ...adapters import load_adapter

        load_adapter(model, adapter)
    model.eval()
    x = resample(audio, samplerate, model.samplerate)
    if x.shape[0] != model.audio_channels:
        x = np.repeat(x.mean(0, keepdims=True), model.audio_channels, axis=0)
    mix = torch.from_numpy(x)
    ref = mix.mean(0)
    mean, std = ref.mean(), ref.std().clamp_min(1e-8)
    with torch.no_grad():
        out = apply_model(
            model, ((mix - mean) / std)[None], split=True, overlap=0.25, progress=False
        )[0]
    out = out * std + mean
    return {name: out[i].numpy() for i, name in enumerate(model.sources)}


def transcribe_stems(
    stems: Mapping[str, np.ndarray],
    samplerate: int,
    models: Mapping[str, nn.Module],
    base: nn.Module,
    note_kwargs: Mapping[str, dict] | None = None,
) -> dict[str, list[NoteEvent]]:
    """Transcribe each stem with `models[stem]` (or `base`) and its note options `note_kwargs[stem]`."""
    note_kwargs = note_kwargs or {}
    return {
        name: transcribe_audio(
            models.get(name, base), to_mono_22k(audio, samplerate), **note_kwargs.get(name, {})
        )
        for name, audio in stems.items()
    }


def load_stem_models(adapters: Mapping[str, str | Path], base_name: str) -> dict[str, nn.Module]:
    """One adapted Basic Pitch per stem that has an adapter."""
    from .family import load_adapted

    return {stem: load_adapted(base_name, path) for stem, path in adapters.items()}
