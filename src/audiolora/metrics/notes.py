"""Note transcription scores with mir_eval: onset F1, onset+offset F1 and frame F1.

Notes are sequences of `(onset_s, offset_s, midi_pitch[, ...])`; extra fields (velocity) are ignored.

- onset: a note matches when the pitch is within 50 cents and the onset within `onset_tolerance`
  (mir_eval.transcription with offset_ratio=None; the usual "note F1").
- onset_offset: as onset, and the offset within max(20 % of the note, 50 ms).
- frame: (time, pitch) pairs on a `frame_hop` grid (mir_eval.multipitch); F1 from its P and R.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence

import mir_eval
import numpy as np

METRICS = ("onset", "onset_offset", "frame")


def _arrays(notes: Iterable[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
    rows = [(float(n[0]), float(n[1]), float(n[2])) for n in notes if float(n[1]) > float(n[0])]
    if not rows:
        return np.zeros((0, 2)), np.zeros(0)
    arr = np.asarray(rows)
    return arr[:, :2], mir_eval.util.midi_to_hz(arr[:, 2])


def _f1(p: float, r: float) -> float:
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def _frame_grid(
    intervals: np.ndarray, pitches_hz: np.ndarray, times: np.ndarray
) -> list[np.ndarray]:
    active: list[list[float]] = [[] for _ in times]
    for (start, end), hz in zip(intervals, pitches_hz, strict=True):
        lo, hi = np.searchsorted(times, [start, end], side="left")
        for i in range(lo, hi):
            active[i].append(hz)
    return [np.asarray(sorted(set(a))) for a in active]


def note_scores(
    reference: Iterable[Sequence[float]],
    estimate: Iterable[Sequence[float]],
    onset_tolerance: float = 0.05,
    frame_hop: float = 0.01,
) -> dict[str, float]:
    """Precision, recall and F1 of `estimate` against `reference` for onset, onset_offset, frame.

    Both empty scores 1.0 (nothing to find, nothing wrongly found); one empty scores 0.0.
    """
    ref_i, ref_p = _arrays(reference)
    est_i, est_p = _arrays(estimate)
    out: dict[str, float] = {}
    if len(ref_p) == 0 or len(est_p) == 0:
        value = 1.0 if len(ref_p) == len(est_p) == 0 else 0.0
        for m in METRICS:
            out.update({f"{m}_precision": value, f"{m}_recall": value, f"{m}_f1": value})
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, r, f, _ = mir_eval.transcription.precision_recall_f1_overlap(
            ref_i, ref_p, est_i, est_p, onset_tolerance=onset_tolerance, offset_ratio=None
        )
        out.update(onset_precision=p, onset_recall=r, onset_f1=f)
        p, r, f, _ = mir_eval.transcription.precision_recall_f1_overlap(
            ref_i, ref_p, est_i, est_p, onset_tolerance=onset_tolerance, offset_ratio=0.2
        )
        out.update(onset_offset_precision=p, onset_offset_recall=r, onset_offset_f1=f)
        end = max(ref_i[:, 1].max(), est_i[:, 1].max())
        times = np.arange(0.0, end + frame_hop, frame_hop)
        scores = mir_eval.multipitch.evaluate(
            times, _frame_grid(ref_i, ref_p, times), times, _frame_grid(est_i, est_p, times)
        )
        p, r = scores["Precision"], scores["Recall"]
        out.update(frame_precision=p, frame_recall=r, frame_f1=_f1(p, r))
    return {k: float(v) for k, v in out.items()}


def mean_scores(per_item: Sequence[dict[str, float]]) -> dict[str, float]:
    """Mean of each score over items (tracks or stems)."""
    if not per_item:
        return {}
    keys = per_item[0].keys()
    return {k: float(np.mean([s[k] for s in per_item])) for k in keys}
