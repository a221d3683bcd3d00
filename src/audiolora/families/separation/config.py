"""Separation options of the `model:` section (issue 6 owns this file)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class SeparationOptions(BaseModel):
    """HT-Demucs options: source linkage and loss."""

    model_config = ConfigDict(extra="forbid")

    source_linkage: dict[str, str] | None = None
