"""The transcription Family: Basic Pitch + LoRA on its learned head, trained on note-aligned stems."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from torch.utils.data import Dataset

from ...errors import ConfigError
from ..base import Family, register_family
from .dataset import NoteWindows, load_track, track_dirs
from .evaluation import comparison_png, note_options
from .losses import transcription_losses
from .model import HEAD_MODULES, WINDOW_SAMPLES, load_basic_pitch

BASE_NAMES = ("basic-pitch", "basic-pitch-icassp2022")
DEFAULT_TARGETS = list(HEAD_MODULES)
VALID_SPLITS = ("valid", "validation", "val")


def load_base(name: str) -> nn.Module:
    """Basic Pitch by name (the shipped ICASSP 2022 weights) or a converted safetensors path."""
    if name in BASE_NAMES:
        return load_basic_pitch()
    if Path(name).suffix == ".safetensors":
        return load_basic_pitch(name)
    raise ConfigError(
        f"model.name={name}: the transcription family needs a Basic Pitch base "
        f"({', '.join(BASE_NAMES)} or a converted .safetensors file)"
    )


def attach_lora(model: nn.Module, spec) -> nn.Module:
    """Attach the adapter `spec` (default targets: the 6 learned head convs) in place."""
    from ...adapters import attach_adapter

    if not spec.target_globs():
        spec = spec.model_copy(update={"targets": DEFAULT_TARGETS})
    example = (torch.randn(1, WINDOW_SAMPLES) * 0.1,)
    return attach_adapter(model, spec, example_inputs=example)


def load_adapted(base: str, adapter: str | Path | None) -> nn.Module:
    """The base, with the adapter folder at `adapter` loaded when given, in eval mode."""
    model = load_base(base)
    if adapter is not None:
        from ...adapters import load_adapter

        load_adapter(model, adapter)
        model.requires_grad_(False)
    return model.eval()


@register_family("transcription")
class TranscriptionFamily(Family):
    """Stem-specialised note transcription on Basic Pitch (see the package docstring)."""

    def _root(self) -> Path:
        if not self.config.data.root:
            raise ConfigError(
                "data.root: set it to a rendered folder with train/ and valid/ splits"
            )
        return Path(self.config.data.root)

    def build_model(self) -> nn.Module:
        model = load_base(self.config.model.name)
        return attach_lora(model, self.config.adapter)

    def _tracks(self, split: str):
        return [
            load_track(d, self.config.transcription.stem) for d in track_dirs(self._root(), split)
        ]

    def datasets(self) -> tuple[Dataset, Dataset | None]:
        opts = self.config.transcription
        train = NoteWindows(
            self._tracks("train"),
            crops_per_track=opts.crops_per_track,
            train=True,
            seed=self.config.run.seed,
            gain_db=opts.gain_db,
            bleed=opts.bleed,
            bleed_probability=opts.bleed_probability,
            onset_tolerance=opts.onset_tolerance,
        )
        valid_split = next((s for s in VALID_SPLITS if (self._root() / s).is_dir()), None)
        valid = None
        if valid_split is not None:
            valid = NoteWindows(
                self._tracks(valid_split),
                crops_per_track=4,
                train=False,
                onset_tolerance=opts.onset_tolerance,
            )
        return train, valid

    def _losses(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        opts = self.config.transcription
        from accelerate.utils import extract_model_from_parallel

        inner = extract_model_from_parallel(model)
        if inner is not model:
            # wrapped (DistributedDataParallel): the forward must go through the wrapper, which
            # synchronises the gradients; the fixed front end builds no graph there either
            logits = model(batch["audio"], logits=True)
        else:
            with torch.no_grad():  # the CQT front end is fixed
                stacked = model.features(batch["audio"])
            logits = model.head(stacked, logits=True)
        return transcription_losses(
            logits,
            batch,
            label_smoothing=opts.label_smoothing,
            onset_positive_weight=opts.onset_positive_weight,
            weights=opts.loss_weights,
        )

    def training_loss(self, model: nn.Module, batch: Any) -> torch.Tensor:
        return self._losses(model, batch)["loss"]

    @torch.no_grad()
    def evaluate(self, model: nn.Module, dataset: Dataset) -> dict[str, float]:
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        totals: dict[str, float] = {}
        count = 0
        try:
            for start in range(0, len(dataset), 8):
                items = [dataset[i] for i in range(start, min(start + 8, len(dataset)))]
                batch = {k: v.to(device) for k, v in self.collate(items).items()}
                for key, value in self._losses(model, batch).items():
                    totals[key] = totals.get(key, 0.0) + float(value) * len(items)
                count += len(items)
        finally:
            model.train(was_training)
        return {k if k == "loss" else f"loss_{k}": v / max(count, 1) for k, v in totals.items()}

    def save_adapter(self, model: nn.Module, path: Path) -> None:
        from ...adapters import save_adapter

        save_adapter(
            model,
            path,
            metadata={
                "family": "transcription",
                "base": self.config.model.name,
                "stem": self.config.transcription.stem,
            },
        )

    def plan(self, model: nn.Module) -> dict[str, Any]:
        facts = super().plan(model)
        facts.update(base=self.config.model.name, stem=self.config.transcription.stem or "mixture")
        return facts

    def final_report(self, model: nn.Module, run_dir: Path) -> dict[str, Any]:
        """Base vs adapted on the eval split: onset, onset+offset and frame F1 at the configured
        thresholds and at thresholds tuned on the validation split (written to the final adapter's
        thresholds.json, which `transcribe` then uses); writes f1.png."""
        from .evaluation import THRESHOLDS_FILE, posteriors_of, scores_at, tune_thresholds

        split = self.config.eval.split
        if not (self._root() / split).is_dir():
            return {}
        run_dir = Path(run_dir)
        final = run_dir / "final"
        if (final / "adapter_config.json").is_file():  # evaluate exactly what was saved
            model = load_adapted(self.config.model.name, final)
        models = {"base": load_base(self.config.model.name), "adapted": model.eval()}
        test = self._tracks(split)
        valid_split = next((s for s in VALID_SPLITS if (self._root() / s).is_dir()), None)
        valid = self._tracks(valid_split) if valid_split else []
        opts = self.config.transcription
        stem = opts.stem or "mixture"
        report: dict[str, Any] = {"split": split, "stem": stem, "tracks": len(test)}
        per_track: dict[str, dict] = {t.name: {} for t in test}
        for label, net in models.items():
            posts = posteriors_of(net, [t.target for t in test])
            refs = [t.notes for t in test]
            report[label] = scores_at(posts, refs, **note_options(opts))
            for t, post in zip(test, posts, strict=True):
                per_track[t.name][label] = scores_at([post], [t.notes], **note_options(opts))
            if valid:
                tuned = tune_thresholds(
                    posteriors_of(net, [t.target for t in valid]),
                    [t.notes for t in valid],
                    opts.min_note_ms,
                )
                kwargs = {k: tuned[k] for k in ("onset_threshold", "frame_threshold")}
                report[f"{label}_tuned"] = {
                    **scores_at(posts, refs, min_note_ms=opts.min_note_ms, **kwargs),
                    **{f"tuned_{k}": v for k, v in kwargs.items()},
                }
                if label == "adapted" and final.is_dir():
                    (final / THRESHOLDS_FILE).write_text(
                        json.dumps({**kwargs, "tuned_on": valid_split})
                    )
        report["per_track"] = per_track
        rows = {
            k: report[k] for k in ("base", "adapted", "base_tuned", "adapted_tuned") if k in report
        }
        comparison_png(rows, run_dir / "f1.png", f"{stem} on {split} ({len(test)} tracks)")
        (run_dir / "transcription_report.json").write_text(json.dumps(report, indent=2))
        return report
