"""AdapterSpec: what to adapt, how, and with which rank. Part of the run config (`adapter:`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class AdapterSpec(BaseModel):
    """Typed description of an adapter; see README "Config reference" for each field."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["lora", "lokr"] = "lora"
    rank: int = Field(8, ge=1)
    alpha: float = Field(16.0, gt=0)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    targets: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    layer_ranks: dict[str, int] = Field(default_factory=dict)
    layer_alphas: dict[str, float] = Field(default_factory=dict)
    rank_mode: Literal["uniform", "heuristic", "gradient"] = "uniform"
    use_rslora: bool = False
    attention: Literal["self", "cross", "both"] | None = None
