"""Chunked separation with demucs's own `apply_model`: overlapping segments of the model's length,
cross-faded, optional random shifts; activations stay one chunk at a time whatever the file length.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn


def chunk_count(model: nn.Module, frames: int, shifts: int, overlap: float) -> int:
    """How many chunk forwards apply_model runs (for progress bars)."""
    models = getattr(model, "models", [model])
    total = 0
    for m in models:
        segment = float(getattr(m, "segment", 8.0))
        if hasattr(model, "models") and getattr(model, "segment", None):
            segment = min(segment, float(model.segment))
        length = int(segment * m.samplerate)
        stride = max(1, int((1 - overlap) * length))
        extra = int(0.5 * m.samplerate) if shifts else 0
        total += max(1, shifts) * math.ceil((frames + extra) / stride)
    return total


def separate_tensor(
    model: nn.Module,
    mix: torch.Tensor,
    *,
    shifts: int = 0,
    overlap: float = 0.25,
    on_chunk: Callable[[], None] | None = None,
) -> torch.Tensor:
    """Separate one mixture `[C, T]` into `[S, C, T]`, normalised as demucs's separate does."""
    from demucs.apply import apply_model

    ref = mix.mean(0)
    mean, std = ref.mean(), ref.std()
    std = std if float(std) > 1e-8 else torch.ones_like(std)
    x = (mix - mean) / std
    callback = None
    if on_chunk is not None:

        def callback(info):
            if info.get("state") == "end":
                on_chunk()

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = apply_model(
                model,
                x[None],
                shifts=shifts,
                split=True,
                overlap=overlap,
                progress=False,
                callback=callback,
            )[0]
    finally:
        model.train(was_training)
    return out * std + mean


@dataclass
class SeparationResult:
    stems: dict[str, Path]
    seconds_audio: float
    seconds_wall: float

    @property
    def rtf(self) -> float:
        """Real-time factor: processing time over audio duration (< 1 is faster than real time)."""
        return self.seconds_wall / max(self.seconds_audio, 1e-9)


def separate_file(
    model: nn.Module,
    path: Path,
    out_dir: Path,
    *,
    shifts: int = 0,
    overlap: float = 0.25,
    progress: bool = True,
) -> SeparationResult:
    """Read `path`, separate it, write `<out_dir>/<stem>.wav` per source (atomically)."""
    from ...audio import read_audio, write_audio
    from ...console import progress_task

    audio, sr = read_audio(path, model.samplerate, model.audio_channels)
    mix = torch.from_numpy(audio)
    start = time.perf_counter()
    total = chunk_count(model, mix.shape[-1], shifts, overlap)
    if progress:
        with progress_task(f"separate {Path(path).name}", total) as (bar, task):
            est = separate_tensor(
                model, mix, shifts=shifts, overlap=overlap, on_chunk=lambda: bar.advance(task)
            )
    else:
        est = separate_tensor(model, mix, shifts=shifts, overlap=overlap)
    wall = time.perf_counter() - start
    out_dir.mkdir(parents=True, exist_ok=True)
    stems = {}
    for name, stem in zip(model.sources, est, strict=True):
        stems[name] = write_audio(out_dir / f"{name}.wav", np.ascontiguousarray(stem.numpy()), sr)
    return SeparationResult(stems, mix.shape[-1] / sr, wall)
