"""Separate-then-transcribe: split a mix into stems with a separation model (demucs's apply_model),
transcribe each stem with its own adapter (the base where none is given), one MIDI track per stem."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    """Stems `{name: [C, T]}` of `[C, T]` audio at `samplerate` with a demucs model (and its adapter
    when given; a separation adapter with its own stems, e.g. soprano/alto/tenor/bass, is relinked
    onto the base first). Separation runs at the model's rate; the stems come back at `samplerate`,
    as long as the input."""
    return separator(model_name, adapter)(audio, samplerate)


def separator(model_name: str, adapter: str | None = None):
    """A function `(audio [C, T], samplerate) -> {stem: [C, T]}` that loads the model once."""
    from ...audio import resample
    from ..separation.separate import separate_tensor

    if adapter is not None:
        from ..separation.model import load_adapted

        model, _links = load_adapted(adapter, base=model_name)
    else:
        from ...hub import load_model

        model = load_model(model_name)  # built-in names (htdemucs-tiny), separation names, files
    model.eval()

    def run(audio: np.ndarray, samplerate: int) -> dict[str, np.ndarray]:
        x = resample(np.asarray(audio, dtype=np.float32), samplerate, model.samplerate)
        if x.shape[0] != model.audio_channels:
            x = np.repeat(x.mean(0, keepdims=True), model.audio_channels, axis=0)
        out = separate_tensor(model, torch.from_numpy(np.ascontiguousarray(x))).numpy()
        length = audio.shape[-1]
        stems = {}
        for i, name in enumerate(model.sources):
            stem = resample(out[i], model.samplerate, samplerate)[:, :length]
            stems[name] = np.pad(stem, ((0, 0), (0, length - stem.shape[1])))
        return stems

    return run


def merge_duplicates(
    notes: Sequence[tuple[float, float, int]], tolerance: float = 0.05
) -> list[tuple[float, float, int]]:
    """The union of several stems' notes as a set: a note with the same pitch as an already kept
    note and an onset within `tolerance` seconds of it is the same note heard in two stems (bleed
    in a separated stem) and is dropped. Notes are (onset, offset, pitch); order by onset."""
    kept: list[tuple[float, float, int]] = []
    last_onset: dict[int, float] = {}
    for note in sorted(notes, key=lambda n: (n[0], n[2])):
        onset, pitch = float(note[0]), int(note[2])
        if pitch in last_onset and onset - last_onset[pitch] <= tolerance:
            continue
        last_onset[pitch] = onset
        kept.append(note)
    return kept


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
