"""Training section of the run config (`train:`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TrainConfig(BaseModel):
    """Optimizer, schedule, loop length and checkpointing."""

    model_config = ConfigDict(extra="forbid")

    optimizer: Literal["adamw", "adam", "adamw8bit", "adafactor", "prodigy"] = "adamw"
    lr: float = Field(1e-4, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    scheduler: Literal["cosine", "cosine_restarts", "linear", "constant", "constant_warmup"] = (
        "cosine"
    )
    warmup: float = Field(0.1, ge=0, le=1)
    batch_size: int = Field(4, ge=1)
    grad_accum: int = Field(1, ge=1)
    max_steps: int = Field(1000, ge=1)
    clip_grad: float | None = 1.0
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    gradient_checkpointing: bool = False
