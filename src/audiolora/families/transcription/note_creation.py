"""Posteriorgrams -> note events, a port of basic_pitch/note_creation.py (Apache-2.0, Spotify AB).

Why a port and not an import: basic-pitch's module imports librosa and resampy (numba) at import
time and the package itself pulls TensorFlow; the few helpers used here are closed-form. The test
suite checks that this port gives the same notes as basic-pitch's own `model_output_to_notes`.
Pitch bends are not estimated (notes only).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.signal

from .model import FFT_HOP, FRAMES_PER_WINDOW, MIDI_OFFSET, SAMPLE_RATE, WINDOW_SAMPLES

MAX_FREQ_IDX = 87
ENERGY_TOLERANCE = 11


@dataclass(frozen=True)
class NoteEvent:
    """One transcribed note: times in seconds, MIDI pitch, amplitude 0..1."""

    start: float
    end: float
    pitch: int
    amplitude: float

    @property
    def velocity(self) -> int:
        return int(np.round(127 * self.amplitude))


def min_note_frames(min_note_ms: float) -> int:
    """basic-pitch's conversion of the minimum note length (ms) to frames."""
    return int(np.round(min_note_ms / 1000 * (SAMPLE_RATE / FFT_HOP)))


def frame_times(n_frames: int) -> np.ndarray:
    """Frame index -> seconds, with basic-pitch's per-window drift correction."""
    original = np.arange(n_frames) * FFT_HOP / SAMPLE_RATE
    window_numbers = np.floor(np.arange(n_frames) / FRAMES_PER_WINDOW)
    # basic-pitch: the 172-frame windows hold 171.27 frames of audio; 0.0018 s is its own constant
    window_offset = (FFT_HOP / SAMPLE_RATE) * (
        FRAMES_PER_WINDOW - WINDOW_SAMPLES / FFT_HOP
    ) + 0.0018
    return original - window_offset * window_numbers


def hz_to_midi(freq: float) -> float:
    return 12 * (np.log2(freq) - np.log2(440.0)) + 69


def _inferred_onsets(onsets: np.ndarray, frames: np.ndarray, n_diff: int = 2) -> np.ndarray:
    diffs = []
    for n in range(1, n_diff + 1):
        appended = np.concatenate([np.zeros((n, frames.shape[1])), frames])
        diffs.append(appended[n:, :] - appended[:-n, :])
    frame_diff = np.min(diffs, axis=0)
    frame_diff[frame_diff < 0] = 0
    frame_diff[:n_diff, :] = 0
    frame_diff = np.max(onsets) * frame_diff / np.max(frame_diff)
    return np.max([onsets, frame_diff], axis=0)


def _scan(energy: np.ndarray, start: int, step: int, freq: int, thresh: float, limit, clear: bool):
    """Walk from `start` in direction `step` until ENERGY_TOLERANCE frames fall below `thresh`."""
    i, k = start, 0
    while limit(i) and k < ENERGY_TOLERANCE:
        k = k + 1 if energy[i, freq] < thresh else 0
        if clear:
            energy[i, freq] = 0
            if freq < MAX_FREQ_IDX:
                energy[i, freq + 1] = 0
            if freq > 0:
                energy[i, freq - 1] = 0
        i += step
    return i, k


def decode_notes(
    frames: np.ndarray,
    onsets: np.ndarray,
    onset_threshold: float = 0.5,
    frame_threshold: float = 0.3,
    min_note_len: int = 11,
    infer_onsets: bool = True,
    min_freq: float | None = None,
    max_freq: float | None = None,
    melodia_trick: bool = True,
) -> list[tuple[int, int, int, float]]:
    """basic-pitch's `output_to_notes_polyphonic`: (start_frame, end_frame, midi, amplitude) list."""
    frames = np.array(frames, dtype=np.float64 if frames.dtype == np.float64 else np.float32)
    onsets = np.array(onsets, dtype=frames.dtype)
    n_frames = frames.shape[0]
    if max_freq is not None:
        idx = int(np.round(hz_to_midi(max_freq) - MIDI_OFFSET))
        onsets[:, idx:] = 0
        frames[:, idx:] = 0
    if min_freq is not None:
        idx = int(np.round(hz_to_midi(min_freq) - MIDI_OFFSET))
        onsets[:, :idx] = 0
        frames[:, :idx] = 0
    if infer_onsets:
        onsets = _inferred_onsets(onsets, frames)

    peak_thresh = np.zeros(onsets.shape)
    peaks = scipy.signal.argrelmax(onsets, axis=0)
    peak_thresh[peaks] = onsets[peaks]
    onset_idx = np.where(peak_thresh >= onset_threshold)
    onset_times, onset_freqs = onset_idx[0][::-1], onset_idx[1][::-1]  # backwards in time

    remaining = np.zeros(frames.shape)
    remaining[:, :] = frames[:, :]
    notes: list[tuple[int, int, int, float]] = []
    for start, freq in zip(onset_times, onset_freqs, strict=True):
        if start >= n_frames - 1:
            continue
        i, k = _scan(
            remaining, start + 1, 1, freq, frame_threshold, lambda j: j < n_frames - 1, False
        )
        i -= k
        if i - start <= min_note_len:
            continue
        remaining[start:i, freq] = 0
        if freq < MAX_FREQ_IDX:
            remaining[start:i, freq + 1] = 0
        if freq > 0:
            remaining[start:i, freq - 1] = 0
        notes.append(
            (int(start), int(i), int(freq) + MIDI_OFFSET, float(np.mean(frames[start:i, freq])))
        )

    if melodia_trick:
        while np.max(remaining) > frame_threshold:
            i_mid, freq = np.unravel_index(np.argmax(remaining), remaining.shape)
            remaining[i_mid, freq] = 0
            i, k = _scan(
                remaining, i_mid + 1, 1, freq, frame_threshold, lambda j: j < n_frames - 1, True
            )
            i_end = i - 1 - k
            i, k = _scan(remaining, i_mid - 1, -1, freq, frame_threshold, lambda j: j > 0, True)
            i_start = i + 1 + k
            if i_end - i_start <= min_note_len:
                continue
            amplitude = float(np.mean(frames[i_start:i_end, freq]))
            notes.append((int(i_start), int(i_end), int(freq) + MIDI_OFFSET, amplitude))
    return notes


def posteriors_to_notes(
    posteriors: dict[str, np.ndarray],
    onset_threshold: float = 0.5,
    frame_threshold: float = 0.3,
    min_note_ms: float = 127.70,
    min_freq: float | None = None,
    max_freq: float | None = None,
    infer_onsets: bool = True,
    melodia_trick: bool = True,
) -> list[NoteEvent]:
    """Unwrapped posteriorgrams {note, onset, ...} [frames, 88] -> note events in seconds."""
    raw = decode_notes(
        posteriors["note"],
        posteriors["onset"],
        onset_threshold=onset_threshold,
        frame_threshold=frame_threshold,
        min_note_len=min_note_frames(min_note_ms),
        infer_onsets=infer_onsets,
        min_freq=min_freq,
        max_freq=max_freq,
        melodia_trick=melodia_trick,
    )
    times = frame_times(posteriors["note"].shape[0])
    return [NoteEvent(float(times[s]), float(times[e]), p, a) for s, e, p, a in raw]
