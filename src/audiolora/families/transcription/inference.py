"""Whole-file inference with basic-pitch's windowing: 3840 zeros first, 43844-sample windows every
36164 samples (30 frames of overlap, 15 trimmed on each side), outputs cut to the audio's length."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from .model import FFT_HOP, SAMPLE_RATE, WINDOW_SAMPLES
from .note_creation import NoteEvent, posteriors_to_notes

OVERLAP_FRAMES = 30
OVERLAP_SAMPLES = OVERLAP_FRAMES * FFT_HOP  # 7680
HOP_SAMPLES = WINDOW_SAMPLES - OVERLAP_SAMPLES  # 36164
OUTPUT_FPS = SAMPLE_RATE // FFT_HOP  # basic-pitch trims with the integer 86


def window_audio(audio: np.ndarray) -> np.ndarray:
    """Mono 22.05 kHz audio [T] -> windows [n, 43844] exactly as basic-pitch cuts them."""
    audio = np.asarray(audio, dtype=np.float32)
    padded = np.concatenate([np.zeros(OVERLAP_SAMPLES // 2, dtype=np.float32), audio])
    windows = []
    for start in range(0, padded.shape[0], HOP_SAMPLES):
        window = padded[start : start + WINDOW_SAMPLES]
        if window.shape[0] < WINDOW_SAMPLES:
            window = np.pad(window, (0, WINDOW_SAMPLES - window.shape[0]))
        windows.append(window)
    return np.stack(windows)


def unwrap(output: np.ndarray, n_samples: int) -> np.ndarray:
    """Window outputs [n, 172, F] -> one matrix [frames, F] for `n_samples` of audio."""
    half = OVERLAP_FRAMES // 2
    trimmed = output[:, half:-half, :]
    frames = int(np.floor(n_samples * (OUTPUT_FPS / SAMPLE_RATE)))
    return trimmed.reshape(-1, output.shape[-1])[:frames]


@torch.inference_mode()
def predict_windows(
    model: nn.Module, windows: np.ndarray, batch_size: int = 8
) -> dict[str, np.ndarray]:
    """Run the model on windows [n, 43844] in batches; returns {note, onset, contour} [n, 172, F]."""
    device = next(model.parameters()).device
    parts: dict[str, list[np.ndarray]] = {"note": [], "onset": [], "contour": []}
    for i in range(0, len(windows), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(windows[i : i + batch_size])).to(device)
        out = model(batch)
        for key in parts:
            parts[key].append(out[key].float().cpu().numpy())
    return {k: np.concatenate(v) for k, v in parts.items()}


def predict_posteriors(
    model: nn.Module, audio: np.ndarray, batch_size: int = 8
) -> dict[str, np.ndarray]:
    """Mono 22.05 kHz audio [T] -> unwrapped posteriorgrams {note, onset [frames, 88], contour}."""
    was_training = model.training
    model.eval()
    try:
        out = predict_windows(model, window_audio(audio), batch_size)
    finally:
        model.train(was_training)
    return {k: unwrap(v, len(audio)) for k, v in out.items()}


def load_mono(path: str | Path) -> np.ndarray:
    """A file as mono 22.05 kHz float32 [T] (channel mean, then soxr HQ, like librosa.load)."""
    from ...audio import read_audio

    audio, _ = read_audio(path, samplerate=SAMPLE_RATE, channels=1)
    return audio[0]


def to_mono_22k(audio: np.ndarray, samplerate: int) -> np.ndarray:
    """[C, T] or [T] audio at any rate -> mono 22.05 kHz [T]."""
    from ...audio import resample

    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2:
        audio = audio.mean(axis=0)
    return resample(audio[None], samplerate, SAMPLE_RATE)[0]


def transcribe_audio(model: nn.Module, audio: np.ndarray, **note_options) -> list[NoteEvent]:
    """Mono 22.05 kHz audio -> note events (options as in `posteriors_to_notes`)."""
    return posteriors_to_notes(predict_posteriors(model, audio), **note_options)
