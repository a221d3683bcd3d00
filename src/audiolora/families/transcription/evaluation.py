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
