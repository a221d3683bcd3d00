"""`audiolora v2a run`: split -> cache -> train (one trainer run per rank phase) -> evaluate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...config import RunConfig
from ...console import info, track, warn
from ...data.video import split_videos, write_clip_tsv
from .features import CacheSettings, build_cache


def split_and_cache(config: RunConfig, video_dir: Path, out: Path, rebuild: bool = False) -> dict:
    """Write out/clips.tsv and the feature cache (v2a.cache_dir, default out/cache)."""
    o = config.v2a
    clips, skipped = split_videos(video_dir, o.clip_seconds, o.overlap, o.holdout)
    for line in skipped:
        warn(f"skipped {line}")
    if not clips:
        from ...errors import DataError

        raise DataError(f"{video_dir}: no usable video (see the lines above)")
    write_clip_tsv(out / "clips.tsv", clips)
    held = sum(c.split == "test" for c in clips)
    info(f"{len(clips)} clips ({held} held out) from {video_dir} -> {out / 'clips.tsv'}")
    manifest, failed = build_cache(
        clips,
        video_dir,
        o.cache_dir,
        CacheSettings.from_options(o),
        rebuild,
        lambda items: track(items, "cache"),
    )
    for line in failed:
        warn(f"not cached: {line}")
    return manifest


def phases(config: RunConfig) -> list[tuple[int, int, int]]:
    """(first step, steps, rank) per phase; one phase at adapter.rank without rank_phases."""
    total = config.train.max_steps or 0
    given = config.v2a.rank_phases or [(0, config.adapter.rank)]
    out = []
    for k, (start, rank) in enumerate(given):
        end = given[k + 1][0] if k + 1 < len(given) else total
        if end > start:
            out.append((start, end - start, rank))
    return out


def train_phases(config: RunConfig, out: Path) -> dict[str, Any]:
    """Train every phase in out/train/phase-K; returns the last phase's metrics."""
    from ...train import Trainer
    from ..base import get_family

    plan = phases(config)
    previous: Path | None = None
    metrics: dict[str, Any] = {}
    for k, (start, steps, rank) in enumerate(plan):
        alpha = config.adapter.alpha * rank / config.adapter.rank
        update = {
            "adapter": config.adapter.model_copy(update={"rank": rank, "alpha": alpha}),
            "train": config.train.model_copy(update={"max_steps": steps}),
            "v2a": config.v2a.model_copy(
                update={"init_adapter": str(previous) if previous else None}
            ),
        }
        phase_cfg = config.model_copy(update=update)
        if len(plan) > 1:
            info(f"phase {k + 1}/{len(plan)}: steps {start}-{start + steps}, rank {rank}")
        family = get_family(phase_cfg)
        family.report = k == len(plan) - 1
        name = f"phase-{k + 1}" if len(plan) > 1 else "train"
        metrics = Trainer(phase_cfg, family, run_dir=out / name).fit()
        previous = out / name / "final"
    return metrics
