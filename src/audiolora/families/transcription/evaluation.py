"""Whole-track evaluation: transcribe audio with a model and score the notes with mir_eval."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch.nn as nn

from ...metrics.notes import mean_scores, note_scores
from .inference import transcribe_audio
from .note_creation import NoteEvent


def note_options(options) -> dict:
    """posteriors_to_notes keyword arguments from TranscriptionOptions (or the model section)."""
    return {
        "onset_threshold": options.onset_threshold,
        "frame_threshold": options.frame_threshold,
        "min_note_ms": options.min_note_ms,
    }


def as_tuples(notes: Sequence[NoteEvent]) -> list[tuple[float, float, int]]:
    return [(n.start, n.end, n.pitch) for n in notes]


def score_items(
    model: nn.Module, items: Sequence[tuple[np.ndarray, list]], **note_kwargs
) -> tuple[dict[str, float], list[dict[str, float]]]:
    """(mean scores, per-item scores) for (mono 22.05 kHz audio, reference notes) items."""
    per_item = [
        note_scores(ref, as_tuples(transcribe_audio(model, audio, **note_kwargs)))
        for audio, ref in items
    ]
    return mean_scores(per_item), per_item


def comparison_png(rows: dict[str, dict[str, float]], path: Path, title: str) -> Path:
    """Grouped bars of onset / onset+offset / frame F1 for each row (e.g. base vs adapted)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ...metrics.notes import METRICS

    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=120)
    width = 0.8 / max(len(rows), 1)
    for i, (label, scores) in enumerate(rows.items()):
        xs = np.arange(len(METRICS)) + i * width
        values = [scores.get(f"{m}_f1", 0.0) for m in METRICS]
        bars = ax.bar(xs, values, width, label=label)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(
        np.arange(len(METRICS)) + width * (len(rows) - 1) / 2,
        [m.replace("_", "+") for m in METRICS],
    )
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("F1")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    import os
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp, format="png")
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


ONSET_GRID = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
FRAME_GRID = (0.3, 0.4, 0.5, 0.6)
THRESHOLDS_FILE = "thresholds.json"


def posteriors_of(model: nn.Module, audios: Sequence[np.ndarray]) -> list[dict[str, np.ndarray]]:
    from .inference import predict_posteriors

    return [predict_posteriors(model, a) for a in audios]


def scores_at(posteriors, references, **note_kwargs) -> dict[str, float]:
    """Mean note scores of already computed posteriorgrams at the given note-creation options."""
    from .note_creation import posteriors_to_notes

    return mean_scores(
        [
            note_scores(ref, as_tuples(posteriors_to_notes(post, **note_kwargs)))
            for post, ref in zip(posteriors, references, strict=True)
        ]
    )


def tune_thresholds(posteriors, references, min_note_ms: float = 127.70) -> dict[str, float]:
    """The (onset, frame) threshold pair with the best mean onset F1 on a held-out split."""
    best = None
    for onset in ONSET_GRID:
        for frame in FRAME_GRID:
            f1 = scores_at(
                posteriors,
                references,
                onset_threshold=onset,
                frame_threshold=frame,
                min_note_ms=min_note_ms,
            )["onset_f1"]
            if best is None or f1 > best[0]:
                best = (f1, onset, frame)
    return {"onset_threshold": best[1], "frame_threshold": best[2], "onset_f1": best[0]}


def read_thresholds(adapter: str | Path | None) -> dict[str, float]:
    """Thresholds tuned for an adapter (its thresholds.json), or {} when it has none."""
    import json

    if adapter is None:
        return {}
    path = Path(adapter) / THRESHOLDS_FILE
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    return {k: float(data[k]) for k in ("onset_threshold", "frame_threshold") if k in data}
