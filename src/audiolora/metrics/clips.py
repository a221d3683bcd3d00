"""How every generation metric sees a clip: mono, 22.05 kHz, -20 dBFS RMS (a module of its own so
that the distances and the embeddings both build on it without importing each other)."""

from __future__ import annotations

import numpy as np

from ..errors import DataError

SAMPLE_RATE = 22050
TARGET_RMS = 0.1  # -20 dBFS


def prepare(audio: np.ndarray, samplerate: int) -> np.ndarray:
    """[T] or [C, T] at any rate -> mono 22.05 kHz float32 [T] at -20 dBFS RMS."""
    from ..audio import resample

    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=0)
    if x.ndim != 1 or x.size == 0:
        raise DataError(f"a clip must be [samples] or [channels, samples], got shape {x.shape}")
    if not np.isfinite(x).all():
        raise DataError("a clip holds NaN or inf samples; check the generator's output")
    if samplerate != SAMPLE_RATE:
        x = resample(x[None], samplerate, SAMPLE_RATE)[0]
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    return (x * (TARGET_RMS / rms)).astype(np.float32) if rms > 1e-8 else x
