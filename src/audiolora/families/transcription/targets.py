"""Training targets from ground-truth notes: note and onset matrices [frames, 88] and the pitch
contour [frames, 264] (3 bins per semitone), on the model's 86.13 frames/s grid."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from .model import (
    CONTOUR_BINS_PER_SEMITONE,
    FFT_HOP,
    FRAMES_PER_WINDOW,
    MIDI_OFFSET,
    N_CONTOUR_BINS,
    N_NOTES,
    SAMPLE_RATE,
)

FPS = SAMPLE_RATE / FFT_HOP


def note_targets(
    notes: Iterable[Sequence[float]],
    start: float = 0.0,
    n_frames: int = FRAMES_PER_WINDOW,
    onset_tolerance: int = 0,
) -> dict[str, np.ndarray]:
    """Targets for the window starting at `start` seconds from `(onset, offset, midi, ...)` notes.

    A note is on from round(onset * fps) to round(offset * fps) (at least one frame); its onset is
    the first of those frames; the contour marks the centre bin of its semitone. With
    `onset_tolerance` k > 0 the onset target is a triangle over the k frames either side
    (1 - |d| / (k + 1)), so an onset posterior peaking a frame or two off is not taught that its
    peak is a non-onset. (A single-frame target did that to re-attacked repeated notes, whose
    audible attack comes a few frames after the note-on: fine-tuning learned to suppress them.)
    """
    note = np.zeros((n_frames, N_NOTES), np.float32)
    onset = np.zeros((n_frames, N_NOTES), np.float32)
    contour = np.zeros((n_frames, N_CONTOUR_BINS), np.float32)
    for n in notes:
        pitch = int(round(float(n[2]))) - MIDI_OFFSET
        if not 0 <= pitch < N_NOTES:
            continue
        first = int(round((float(n[0]) - start) * FPS))
        last = max(int(round((float(n[1]) - start) * FPS)), first + 1)
        lo, hi = max(first, 0), min(last, n_frames)
        if lo >= hi:
            continue
        note[lo:hi, pitch] = 1.0
        bin_ = pitch * CONTOUR_BINS_PER_SEMITONE + CONTOUR_BINS_PER_SEMITONE // 2
        contour[lo:hi, bin_] = 1.0
        for d in range(-onset_tolerance, onset_tolerance + 1):
            if 0 <= first + d < n_frames:
                value = 1.0 - abs(d) / (onset_tolerance + 1)
                onset[first + d, pitch] = max(onset[first + d, pitch], value)
    return {"note": note, "onset": onset, "contour": contour}
