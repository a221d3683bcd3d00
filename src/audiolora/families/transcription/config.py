"""Transcription options of the `model:` section (issue 7 owns this file)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class TranscriptionOptions(BaseModel):
    """Basic Pitch options."""

    model_config = ConfigDict(extra="forbid")

    stem: str | None = None
