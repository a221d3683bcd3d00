"""The v2a Family: LoRA on the MMAudio-style DiT, trained from the frozen feature cache only.

Progressive rank growth (`v2a.rank_phases`) runs as one trainer run per phase (`pipeline.py`): the
trainer builds its optimizer once and has no hook to grow the adapter mid-run, so phase k starts
from phase k-1's adapter (`v2a.init_adapter`) grown with `adapters.grow_rank`, which keeps the
model's output exactly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from ...config import RunConfig
from ...errors import ConfigError, DataError
from ..base import Family, register_family
from .bases import load_base
from .features import CacheSettings, check_manifest, read_manifest
from .sampling import CachedClips, adapter_off, batch_loss
from .targets import SEED_002_TARGETS, expand_targets


@register_family("v2a")
class V2AFamily(Family):
    """Video-to-audio flow matching: LoRA on joint/fused blocks; encoders, codec, projections frozen."""

    def __init__(self, config: RunConfig):
        super().__init__(config)
        self.opts = config.v2a
        self.report = True  # the phase runner turns the end-of-run report off for early phases
        if len(self.opts.rank_phases) > 1 and self.opts.init_adapter is None:
            first = self.opts.rank_phases[0][1]
            if config.adapter.rank != first:
                raise ConfigError(
                    f"v2a.rank_phases has {len(self.opts.rank_phases)} phases: run them with "
                    "`audiolora v2a run` (the trainer cannot grow ranks mid-run), or set "
                    f"adapter.rank={first} for the first phase alone"
                )

    # ------------------------------------------------------------------ cache

    @property
    def cache_dir(self) -> Path:
        if not self.opts.cache_dir:
            raise ConfigError("v2a.cache_dir: not set; build a cache with `audiolora v2a cache`")
        return Path(self.opts.cache_dir)

    def manifest(self) -> dict[str, Any]:
        if not hasattr(self, "_manifest"):
            manifest = read_manifest(self.cache_dir)
            if self.opts.codec and self.opts.clip_model and self.opts.text_model:
                check_manifest(manifest, CacheSettings.from_options(self.opts), self.cache_dir)
            self._manifest = manifest
        return self._manifest

    def datasets(self):
        m = self.manifest()
        train = CachedClips(self.cache_dir, m, ("train",))
        held = CachedClips(self.cache_dir, m, ("test", "valid"))
        if len(train) == 0:
            raise DataError(f"{self.cache_dir}: no training clips in the cache")
        return train, (held if len(held) else None)

    # ------------------------------------------------------------------ model

    def build_model(self) -> nn.Module:
        from ...adapters import attach_adapter, grow_rank, load_adapter, read_adapter_metadata

        cfg = self.config
        model = load_base(cfg.model.name)
        dims = self.manifest()["dims"]
        wrong = {k: v for k, v in dims.items() if model.config[k] != v}
        if wrong:
            k = next(iter(wrong))
            raise ConfigError(
                f"model.name={cfg.model.name}: {k}={model.config[k]} but the cache at "
                f"{self.cache_dir} has {k}={wrong[k]}; cache with the base's encoders"
            )
        model.requires_grad_(False)
        if self.opts.init_adapter:
            load_adapter(model, self.opts.init_adapter)
            had = max(read_adapter_metadata(self.opts.init_adapter)["ranks"].values())
            if cfg.adapter.rank > had:
                grow_rank(model, cfg.adapter.rank)
        else:
            spec = cfg.adapter
            globs = spec.targets or SEED_002_TARGETS
            spec = spec.model_copy(update={"targets": expand_targets(model, globs)})
            train, _ = self.datasets()
            example = self.collate([train[0]])
            attach_adapter(model, spec, example_inputs=self._example(example))
        return model

    def _example(self, batch: dict) -> tuple:
        x = batch["latents"]
        t = torch.full((x.shape[0],), 0.5)
        return (x, t, batch["clip"], batch["sync"], batch["text"], batch["text_mask"])

    def plan(self, model: nn.Module) -> dict[str, Any]:
        m = self.manifest()
        return {
            "family": self.name,
            "cache": f"{self.cache_dir} ({len(m['clips'])} clips, key {m['hash']})",
            "rank phases": str(self.opts.rank_phases or "none"),
        }

    # ------------------------------------------------------------------ training

    def training_loss(self, model: nn.Module, batch: Any) -> torch.Tensor:
        o = self.opts
        return batch_loss(model, batch, None, o.timestep_mean, o.timestep_std, o.cfg_dropout)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, dataset) -> dict[str, float]:
        """Flow-matching loss on fixed noise and noise levels per clip (the same at every call)."""
        losses = []
        for i in range(len(dataset)):
            batch = self.collate([dataset[i]])
            batch = {k: v.to(model.device) for k, v in batch.items()}
            g = torch.Generator().manual_seed(self.opts.eval_seed + i)
            losses.append(float(batch_loss(model, batch, g, self.opts.timestep_mean, 1.0)))
        return {"loss": float(np.mean(losses))}

    def save_adapter(self, model: nn.Module, path: Path) -> None:
        from ...adapters import save_adapter

        meta = {
            "family": "v2a",
            "base": self.config.model.name,
            "cache_key": self.manifest()["hash"],
            "encoders": {
                k: self.manifest()["key"][k] for k in ("codec", "clip_model", "text_model")
            },
            "rank_phases": [list(p) for p in self.opts.rank_phases],
        }
        save_adapter(model, path, meta)

    # ------------------------------------------------------------------ base vs adapted

    def final_report(self, model: nn.Module, run_dir: Path) -> dict[str, Any]:
        if not self.report:
            return {}
        _, held = self.datasets()
        if held is None:
            return {"note": "no held-out clips: evaluation skipped"}
        with torch.no_grad():
            with adapter_off(model):
                base_loss = self.evaluate(model, held)["loss"]
            adapted_loss = self.evaluate(model, held)["loss"]
        report: dict[str, Any] = {
            "clips": len(held),
            "loss": {"base": base_loss, "adapted": adapted_loss},
        }
        from .evaluate import generation_report

        report.update(generation_report(self, model, held, run_dir))
        (run_dir / "v2a_report.json").write_text(json.dumps(report, indent=1))
        return report
