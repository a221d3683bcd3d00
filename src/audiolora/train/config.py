"""Training section of the run config (`train:`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class BestConfig(BaseModel):
    """Best-adapter tracking and early stopping (`train.best`)."""

    model_config = ConfigDict(extra="forbid")

    metric: str = "loss"
    mode: Literal["min", "max"] = "min"
    window: int = Field(5, ge=1)
    best_after: int = Field(0, ge=0)
    best_after_epochs: int | None = Field(None, ge=0)
    min_delta: float = Field(0.001, ge=0)
    patience: int | None = Field(None, ge=1)


class TrainConfig(BaseModel):
    """Optimizer, schedule, loop length, validation, checkpoints, guards and logging."""

    model_config = ConfigDict(extra="forbid")

    optimizer: Literal["adamw", "adam", "adamw8bit", "adafactor", "prodigy"] = "adamw"
    lr: float = Field(1e-4, gt=0)
    full_lr: float | None = Field(None, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    betas: tuple[float, float] = (0.9, 0.999)
    scheduler: Literal["cosine", "cosine_restarts", "linear", "constant", "constant_warmup"] = (
        "cosine"
    )
    warmup: float = Field(0.1, ge=0, le=1)
    warmup_start: float = Field(0.1, ge=0, le=1)
    min_lr_ratio: float = Field(0.01, ge=0, le=1)
    batch_size: int = Field(4, ge=1)
    grad_accum: int = Field(1, ge=1)
    max_steps: int | None = Field(1000, ge=1)
    epochs: int | None = Field(None, ge=1)
    clip_grad: float | None = Field(1.0, gt=0)
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    gradient_checkpointing: bool = False
    eval_every: int | None = Field(100, ge=1)
    eval_every_epochs: int | None = Field(None, ge=1)
    checkpoint_every: int | None = Field(100, ge=1)
    checkpoint_every_epochs: int | None = Field(None, ge=1)
    keep_checkpoints: int = Field(3, ge=1)
    best: BestConfig = Field(default_factory=BestConfig)
    final: Literal["best", "last"] = "best"
    nan_patience: int = Field(5, ge=1)
    log_every: int = Field(10, ge=1)
    memory_warn_gb: float | None = Field(None, gt=0)
    monitor_interval: float = Field(5.0, gt=0)
    loss_curve: bool = True

    @model_validator(mode="after")
    def _some_length(self) -> TrainConfig:
        if self.max_steps is None and self.epochs is None:
            raise ValueError("set train.max_steps or train.epochs (both are null)")
        return self
