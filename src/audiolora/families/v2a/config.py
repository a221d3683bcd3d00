"""Video-to-audio options: the `v2a:` section of a run config."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class V2AOptions(BaseModel):
    """Clips, frozen encoders, feature cache, objective, rank phases and evaluation of the v2a family."""

    model_config = ConfigDict(extra="forbid")

    # feature cache written by `audiolora v2a cache` (manifest.json + one safetensors per clip)
    cache_dir: str | None = None
    # clip cutting (`audiolora v2a split`); overlap is a fraction of the clip
    clip_seconds: float = Field(2.0, gt=0)
    overlap: float = Field(0.5, ge=0, lt=1)
    holdout: float = Field(0.25, ge=0, lt=1)  # share of whole videos held out for evaluation
    # frozen encoders: hub ids or local folders
    codec: str | None = None  # diffusers AutoencoderOobleck
    clip_model: str | None = None  # transformers CLIPVisionModelWithProjection (+ image processor)
    text_model: str | None = None  # transformers CLIPTextModelWithProjection (+ tokenizer)
    clip_fps: float = Field(8.0, gt=0)
    sync_fps: float = Field(24.0, gt=0)  # grid the per-frame motion energy is interpolated onto
    sync_grid: int = Field(4, ge=1)  # motion energy per cell of a grid x grid split, plus the whole
    text_tokens: int = Field(16, ge=1)
    # objective (flow matching, objective.py)
    timestep_mean: float = 0.0
    timestep_std: float = Field(1.0, gt=0)
    cfg_dropout: float = Field(0.1, ge=0, le=1)
    # progressive rank growth: [[start_step, rank], ...] from step 0 (seed 002: 32 -> 64 -> 128);
    # run by `audiolora v2a run` as one training phase per entry (the trainer has no growth hook)
    rank_phases: list[tuple[int, int]] = Field(default_factory=list)
    # continue from this adapter (grown to adapter.rank when smaller); set by the phase runner
    init_adapter: str | None = None
    # evaluation: Euler steps, guidance, seed; onsets match within this many seconds
    sample_steps: int = Field(16, ge=1)
    guidance: float = Field(1.0, ge=0)
    eval_seed: int = 1234
    eval_clips: int = Field(8, ge=1)
    onset_tolerance: float = Field(0.07, gt=0)

    @field_validator("rank_phases")
    @classmethod
    def _phases(cls, value):
        if not value:
            return value
        starts = [s for s, _ in value]
        if starts[0] != 0 or starts != sorted(set(starts)):
            raise ValueError("rank_phases must start at step 0 with increasing start steps")
        ranks = [r for _, r in value]
        if any(r < 1 for r in ranks) or ranks != sorted(ranks):
            raise ValueError("rank_phases ranks must be >= 1 and non-decreasing")
        return value
