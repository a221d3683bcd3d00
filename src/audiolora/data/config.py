"""Data section of the run config (`data:`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class AugmentConfig(BaseModel):
    """Training augmentation of stem batches (`data.augment`); see `audiolora.data.augment`."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    gain: tuple[float, float] | None = (0.25, 1.25)  # per-stem gain range; null: off
    remix: bool = True  # shuffle stems across the tracks of a batch
    polarity: bool = True
    channel_swap: bool = True

    @field_validator("gain")
    @classmethod
    def _ordered(cls, value):
        if value is not None and not (0 <= value[0] <= value[1]):
            raise ValueError("gain must be [low, high] with 0 <= low <= high")
        return value

    def build(self):
        """The StemAugment this section describes, or None when disabled."""
        from .augment import StemAugment

        if not self.enabled:
            return None
        return StemAugment(self.gain, self.remix, self.polarity, self.channel_swap)


class DataConfig(BaseModel):
    """Where the audio is and how it is cut into training examples."""

    model_config = ConfigDict(extra="forbid")

    root: str | None = None
    sources: list[str] = Field(default_factory=list)
    samplerate: int = Field(44100, gt=0)
    channels: int = Field(2, ge=1)
    segment: float = Field(4.0, gt=0)
    stride: float | None = Field(None, gt=0)
    normalize: bool = True
    num_workers: int = Field(0, ge=0)
    allow_resample: bool = False  # accept stems at other rates (resampled with soxr on load)
    length_tolerance: float = Field(0.01, ge=0)  # seconds stems of a track may differ in length
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
