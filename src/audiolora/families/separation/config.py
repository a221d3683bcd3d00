"""Separation options of the `model:` section (issue 6 owns this file)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SeparationOptions(BaseModel):
    """HT-Demucs options: source linkage, loss and per-source weights."""

    model_config = ConfigDict(extra="forbid")

    # new stem -> base stem, or `new` / `new:zeros` / `new:fresh` / `new:copy:<base stem>`
    source_linkage: dict[str, str] | None = None
    new_stem_init: str = "fresh"  # what a plain `new` starts from: zeros | fresh | copy:<base stem>
    loss: Literal["l1", "l2", "mrstft", "l1+mrstft", "sdr", "l1+sdr"] = "l1"
    mrstft_weight: float = Field(1.0, ge=0)  # weight of the STFT term in l1+mrstft
    sdr_weight: float = Field(0.01, ge=0)  # weight of the -SDR term (dB) in l1+sdr
    source_weights: dict[str, float] = Field(
        default_factory=dict
    )  # stem -> loss weight (default 1)
