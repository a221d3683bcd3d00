"""Transcription options of the `model:` section (issue 7 owns this file)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TranscriptionOptions(BaseModel):
    """Basic Pitch options: which stem an adapter specialises in, note creation, losses, augmentation."""

    model_config = ConfigDict(extra="forbid")

    stem: str | None = (
        None  # stem the adapter transcribes (its notes are the targets); None: mixture
    )
    onset_threshold: float = Field(0.5, gt=0, lt=1)
    frame_threshold: float = Field(0.3, gt=0, lt=1)
    min_note_ms: float = Field(127.70, ge=0)
    label_smoothing: float = Field(0.2, ge=0, lt=1)
    # None: plain BCE on onsets. It makes onset posteriors cautious: a strong voice's adapter can
    # learn to skip subtle onsets (re-attacked repeated notes). The paper's class-balanced BCE keeps
    # them (0.5: tenor recall 0.97) but raises every onset posterior; 0.95 inflates them past use.
    onset_positive_weight: float | None = Field(None, gt=0, lt=1)
    # onset targets as a triangle over this many frames either side (0: the note-on frame only)
    onset_tolerance: int = Field(0, ge=0, le=4)
    loss_weights: dict[Literal["note", "onset", "contour"], float] = Field(
        default_factory=lambda: {"note": 1.0, "onset": 1.0, "contour": 1.0}
    )
    crops_per_track: int = Field(8, ge=1)
    gain_db: tuple[float, float] = (-6.0, 6.0)
    bleed: tuple[float, float] = (0.0, 0.3)  # gain range of the other stems mixed in
    bleed_probability: float = Field(0.5, ge=0, le=1)
