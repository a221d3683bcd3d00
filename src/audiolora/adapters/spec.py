"""AdapterSpec: what to adapt, how, and with which rank. Part of the run config (`adapter:`)."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Module-name globs the `attention` shortcut stands for. diffusers DiTs name them attn1/attn2,
# ACE-Step self_attn/cross_attn, MusicGen self_attn/encoder_attn, HT-Demucs self_attn/cross_attn.
ATTENTION_GLOBS = {
    "self": ["*attn1", "*attn1.*", "*self_attn", "*self_attn.*"],
    "cross": [
        "*attn2",
        "*attn2.*",
        "*cross_attn",
        "*cross_attn.*",
        "*encoder_attn",
        "*encoder_attn.*",
    ],
}


def pattern_specificity(pattern: str) -> int:
    """How specific a glob is: its number of literal characters (everything but `*`, `?`, `[...]`)."""
    literal, i = 0, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "[":
            end = pattern.find("]", i + 1)
            if end > 0:
                i = end + 1
                continue
        if c not in "*?":
            literal += 1
        i += 1
    return literal


def most_specific(mapping: dict[str, float], name: str):
    """The value of the most specific glob in `mapping` matching `name`, or None.

    Rule: among the globs that match, the one with the most literal characters wins (so an exact
    module name beats `encoder.0.*`, which beats `encoder.*`, which beats `*`); on a tie the glob
    written later wins.
    """
    best, best_score = None, -1
    for pattern, value in mapping.items():
        if fnmatchcase(name, pattern):
            score = pattern_specificity(pattern)
            if score >= best_score:
                best, best_score = value, score
    return best


class AdapterSpec(BaseModel):
    """Typed description of an adapter (the `adapter:` config section).

    Targets and excludes are shell-style globs over qualified module names (fnmatch: `*` matches any
    characters including dots, so `encoder.0.*` is everything under encoder.0 and `*.rewrite` every
    rewrite conv); excluding a module also excludes everything under it. An nn.MultiheadAttention `m` also answers to `m.q_proj`, `m.k_proj`, `m.v_proj` and
    `m.out_proj`, each adaptable on its own. `layer_ranks` / `layer_alphas` map globs to values; the
    most specific matching glob wins (most literal characters; later wins a tie; see `most_specific`).

    Rank modes: `uniform` uses `rank` (and `layer_ranks`) as given; `heuristic` uses
    `rank * rank_growth ** depth`, depth being the first integer in the module name (encoder.2.conv ->
    2; none -> 0), clipped to [min_rank, max_rank] and to the layer's smaller side; `gradient` needs
    ranks from `estimate_gradient_ranks`, which spreads `rank_budget` (default rank x targets) over
    the targets in proportion to their gradient sensitivity, clipped to [min_rank, max_rank].
    """

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
    min_rank: int = Field(2, ge=1)
    max_rank: int = Field(64, ge=1)
    rank_growth: float = Field(1.5, gt=0)
    rank_budget: int | None = Field(None, ge=1)
    gradient_batches: int = Field(8, ge=1)
    init: Literal["kaiming", "gaussian"] = "kaiming"
    use_rslora: bool = False
    attention: Literal["self", "cross", "both"] | None = None
    lokr_factor: int = Field(-1, description="LoKr decompose_factor (-1: near the square root)")
    lokr_decompose_both: bool = False

    @model_validator(mode="after")
    def _check(self) -> AdapterSpec:
        if self.min_rank > self.max_rank:
            raise ValueError(f"min_rank {self.min_rank} > max_rank {self.max_rank}")
        bad = {k: v for k, v in self.layer_ranks.items() if v < 1}
        if bad:
            raise ValueError(f"layer_ranks must be >= 1: {bad}")
        return self

    def target_globs(self) -> list[str]:
        """`targets` plus the globs the `attention` shortcut stands for."""
        return [*self.targets, *(g for g in self.attention_globs() if g not in self.targets)]

    def attention_globs(self) -> list[str]:
        """The globs the `attention` shortcut stands for (together they must select something)."""
        globs = []
        if self.attention in ("self", "both"):
            globs += ATTENTION_GLOBS["self"]
        if self.attention in ("cross", "both"):
            globs += ATTENTION_GLOBS["cross"]
        return globs

    def rank_for(self, name: str) -> int:
        """The rank `layer_ranks` / `rank` give module `name` (before rank modes)."""
        value = most_specific(self.layer_ranks, name)
        return int(value) if value is not None else self.rank

    def alpha_for(self, name: str) -> float:
        value = most_specific(self.layer_alphas, name)
        return float(value) if value is not None else self.alpha

    def with_ranks(self, ranks: dict[str, int]) -> AdapterSpec:
        """A copy whose `layer_ranks` pin each module in `ranks` to its exact rank."""
        return self.model_copy(update={"layer_ranks": {**self.layer_ranks, **ranks}})
