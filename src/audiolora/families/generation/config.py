"""Generation options: the `generation:` section of a run config."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class GenerationOptions(BaseModel):
    """Latent flow-matching DiTs (ACE-Step, Stable Audio) and MusicGen: data, objective, sampling."""

    model_config = ConfigDict(extra="forbid")

    # checkpoint variant: `auto` reads it from the checkpoint (a distilled "turbo" or a "base")
    variant: Literal["auto", "turbo", "base"] = "auto"
    # sampling; None = the checkpoint's own defaults for its variant (turbo 8 steps shift 3, base 60/1)
    steps: int | None = Field(None, ge=1)
    shift: float | None = Field(None, gt=0)
    guidance: float | None = Field(None, ge=0)
    # adapter targets when adapter.targets is empty: `+`-joined presets of self, cross, both, ffn,
    # time (time-embedding MLPs), output (output projection), e.g. `both+time+output` (seed 001)
    target_preset: str = "both"
    # captions: sidecars next to each file, or one CSV / JSON (filename, caption, genre, bpm, ...)
    captions: str | None = None
    activation_tag: str | None = None
    tag_mode: Literal["prepend", "append", "replace"] = "prepend"
    allow_missing_captions: bool = False  # a file without caption gets the activation tag alone
    # training window in seconds; longer clips are cropped at random per step, in latent frames
    window_seconds: float = Field(10.0, gt=0)
    cache_dir: str | None = None  # default: <data.root>/.audiolora-cache/<model hash>
    two_pass: bool = False  # low-memory cache: text encoders only, then the autoencoder only
    # objective: logit-normal timesteps, then the model's shift; classifier-free-guidance dropout
    timestep_mean: float = 0.0
    timestep_std: float = Field(1.0, gt=0)
    cfg_dropout: float = Field(0.1, ge=0, le=1)
    # samples while training, at evaluations whose step is a multiple of sample_every (0: never);
    # the prompts, or else the first two held-out clips' captions
    sample_every: int = Field(0, ge=0)
    sample_prompts: list[str] = Field(default_factory=list)
    sample_seconds: float = Field(4.0, gt=0)
    sample_steps: int = Field(8, ge=1)
    # end-of-run evaluation: held-out captions of eval.split, generated base vs adapted
    eval_clips: int = Field(4, ge=1)
    eval_seed: int = 1234
    # below this relative base-vs-adapted distance on training captions the report warns
    audible_threshold: float = Field(0.02, ge=0)
