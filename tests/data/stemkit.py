"""Builders for hand-made stem folders used by the data tests (tones, not models)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audiolora.audio import write_audio

SR = 16000
TECHHOUSE = ["other", "kick", "vocals", "bass", "hihat"]


def tone(
    seconds: float, freq: float, sr: int = SR, channels: int = 2, amp: float = 0.2
) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    wave = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.repeat(wave[None], channels, axis=0)


def make_track(
    folder: Path,
    seconds: float = 1.0,
    sources=("a", "b", "c"),
    sr: int = SR,
    mixture: bool = True,
    subtype: str = "FLOAT",
) -> dict[str, np.ndarray]:
    """A clean track: one tone per source and mixture.wav = their sum."""
    stems = {s: tone(seconds, 220.0 * (k + 1), sr) for k, s in enumerate(sources)}
    for name, audio in stems.items():
        write_audio(folder / f"{name}.wav", audio, sr, subtype=subtype)
    if mixture:
        write_audio(folder / "mixture.wav", sum(stems.values()), sr, subtype=subtype)
    return stems
