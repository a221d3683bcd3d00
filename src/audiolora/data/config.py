"""Data section of the run config (`data:`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DataConfig(BaseModel):
    """Where the audio is and how it is cut into training examples."""

    model_config = ConfigDict(extra="forbid")

    root: str | None = None
    sources: list[str] = Field(default_factory=list)
    samplerate: int = Field(44100, gt=0)
    channels: int = Field(2, ge=1)
    segment: float = Field(4.0, gt=0)
    stride: float | None = None
    normalize: bool = True
    num_workers: int = Field(0, ge=0)
