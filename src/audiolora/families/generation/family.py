"""The generation Family: LoRA / LoKr on a latent flow-matching DiT, trained from a latent cache."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ...config import RunConfig
from ...data.captions import CaptionedAudio, load_captions
from ...errors import ConfigError, DataError
from ..base import Family, register_family
from . import ace_step
from .bases import (
    checkpoint_variant,
    import_kind,
    pipeline_class_name,
    pipeline_kind,
    require_trainable,
    resolve_location,
    sampling_defaults,
)
from .cache import LatentCache, build_cache, model_fingerprint, random_state_kept
from .dataset import LatentClips, collate_clips
from .objective import (
    cfg_dropout_mask,
    flow_matching_loss,
    noisy_latents_and_target,
    sample_sigmas,
)
from .targets import preset_targets

SPLITS = ("train", "valid", "test")
EVAL_SIGMAS = (0.2, 0.5, 0.8)


def split_items(root: Path, items: list[CaptionedAudio]) -> dict[str, list[CaptionedAudio]]:
    """Items by split folder (`train/`, `valid/`, `test/` under the root); all `train` without them."""
    if not any((root / s).is_dir() for s in SPLITS):
        return {"train": items, "valid": [], "test": []}
    out: dict[str, list[CaptionedAudio]] = {s: [] for s in SPLITS}
    for item in items:
        first = item.path.resolve().relative_to(root.resolve()).parts[0]
        if first in out:
            out[first].append(item)
    return out


# checkpoint kind -> the Family class that trains it; other kinds' modules add themselves here
KIND_FAMILIES: dict[str, type] = {}


@register_family("generation")
class GenerationFamily(Family):
    """Text-to-music DiTs (ACE-Step through diffusers): cache -> flow matching -> samples -> distances.

    `model.family: generation` covers every generation checkpoint: constructing this class returns
    the subclass registered in KIND_FAMILIES for the checkpoint's kind (ACE-Step: this class).
    """

    cache_builder = staticmethod(build_cache)  # each kind's own encoders, one cache layout
    samples_while_training = True

    def __new__(cls, config: RunConfig):
        if cls is GenerationFamily:
            kind = checkpoint_kind(config.model.name)
            import_kind(kind)
            target = KIND_FAMILIES.get(kind)
            if target is None:
                require_trainable(kind, config.model.name)
            if target is not None and target is not cls:
                return target(config)
        return super().__new__(cls)

    def __init__(self, config: RunConfig):
        if getattr(self, "_initialised", False):
            return
        self._initialised = True
        super().__init__(config)
        self.options = config.generation
        self.location = resolve_location(config.model.name)
        self.kind = pipeline_kind_name(self.location)
        require_trainable(self.kind, config.model.name)
        self._cache: LatentCache | None = None
        self._splits: dict[str, list[CaptionedAudio]] | None = None
        self.variant = "base"

    # ------------------------------------------------------------------ data and cache

    def _root(self) -> Path:
        if not self.config.data.root:
            raise ConfigError("data.root: set it to a folder of captioned audio files")
        root = Path(self.config.data.root)
        if not root.is_dir():
            raise DataError(f"{root}: no such folder of captioned audio (data.root)")
        return root

    def captioned_items(self) -> list[CaptionedAudio]:
        root = self._root()
        table = self.options.captions
        if table is None and (root / "captions.csv").is_file():
            table = str(root / "captions.csv")
        return load_captions(
            root,
            csv_path=table,
            tag=self.options.activation_tag,
            tag_mode=self.options.tag_mode,
            fill_missing=False,
            require_caption=not self.options.allow_missing_captions,
        )

    def cache_folder(self) -> Path:
        if self.options.cache_dir:
            return Path(self.options.cache_dir)
        return self._root() / ".audiolora-cache" / model_fingerprint(self.location)

    def cache(self) -> LatentCache:
        """The latent cache of this run's data: built when missing, refused when stale."""
        if self._cache is None:
            items = self.captioned_items()
            folder = self.cache_folder()
            if not (folder / "manifest.json").is_file():
                with random_state_kept():
                    type(self).cache_builder(
                        self.config.model.name, items, folder, two_pass=self.options.two_pass
                    )
            cache = LatentCache(folder)
            cache.check_fresh(self.config.model.name, items)
            self._cache = cache
            self._splits = split_items(self._root(), items)
        return self._cache

    def split_indices(self, split: str) -> list[int]:
        self.cache()
        files = {str(i.path) for i in self._splits.get(split, [])}
        return [n for n, e in enumerate(self._cache.entries) if e.file in files]

    def window_frames(self) -> int:
        lps = float(self.cache().shared["latents_per_second"])
        return max(2, int(round(self.options.window_seconds * lps)))

    def datasets(self):
        seed = self.config.run.seed
        train = LatentClips(self.cache(), self.split_indices("train"), self.window_frames(), seed)
        if len(train) == 0:
            raise DataError(f"{self._root()}: no training clips (put them in train/ or the root)")
        valid_idx = self.split_indices("valid")
        valid = (
            LatentClips(self._cache, valid_idx, self.window_frames(), seed, random_crop=False)
            if valid_idx
            else None
        )
        return train, valid

    def collate(self, items):
        return collate_clips(items)

    # ------------------------------------------------------------------ model

    def build_model(self) -> nn.Module:
        """The kind's DiT (loaded after the cache is built) with the run's adapter attached."""
        from ...adapters import attach_adapter

        cache = self.cache()  # encoders run (once) before the DiT is loaded, never beside it
        model = self.load_transformer()
        self.prepare(model, cache)
        spec = self.config.adapter
        if not spec.targets and spec.attention is None:
            targets = preset_targets(self.options.target_preset, kind=self.kind)
            spec = spec.model_copy(update={"targets": targets})
        if spec.rank_mode == "gradient":
            spec = spec.with_ranks(self._gradient_ranks(model, spec))
        model.eval()
        attach_adapter(model, spec, example_inputs=self._example_inputs(model))
        return model

    def load_transformer(self) -> nn.Module:
        """The checkpoint's DiT (every kind: its own diffusers class)."""
        from diffusers import AceStepTransformer1DModel

        return AceStepTransformer1DModel.from_pretrained(self.location, subfolder="transformer")

    def prepare(self, model: nn.Module, cache: LatentCache) -> None:
        """What the objective needs besides the DiT: variant, silence context, null condition."""
        self.variant = self._variant(model)
        self.silence = cache.shared["silence_latent"]
        self.null_emb = cache.shared["null_condition_emb"]

    def _gradient_ranks(self, model, spec) -> dict[str, int]:
        """Seed 004's gradient sensitivity on a few cached batches (the run's own loss)."""
        from ...adapters import estimate_gradient_ranks

        train, _ = self.datasets()
        batches = (
            collate_clips(
                [train[i % len(train)] for i in range(n, n + self.config.train.batch_size)]
            )
            for n in range(
                0,
                spec.gradient_batches * self.config.train.batch_size,
                self.config.train.batch_size,
            )
        )
        return estimate_gradient_ranks(model, spec, batches, self.training_loss)

    def _variant(self, transformer) -> str:
        if self.options.variant != "auto":
            return self.options.variant
        return checkpoint_variant(type("P", (), {"transformer": transformer})())

    def _example_inputs(self, model) -> tuple:
        item = collate_clips([LatentClips(self._cache, [0], 8, random_crop=False)[0]])
        x = torch.randn_like(item["latents"])
        sigma = torch.full((1,), 0.5)
        ctx = ace_step.context_latents(self.silence, 1, x.shape[1])
        t = sigma.to(x.dtype)
        return (x, t, t, item["encoder_hidden_states"], ctx)

    def set_gradient_checkpointing(self, model: nn.Module, enabled: bool) -> None:
        if enabled:
            model.enable_gradient_checkpointing()
        else:
            model.disable_gradient_checkpointing()

    def train_shift(self) -> float:
        return sampling_defaults(self.variant, shift=self.options.shift).shift

    # ------------------------------------------------------------------ objective

    def _noise(self, batch: dict[str, torch.Tensor], fixed_sigma: float | None = None):
        x0 = batch["latents"]
        gens = [torch.Generator().manual_seed(int(s)) for s in batch["noise_seed"]]
        noise = torch.stack([torch.randn(x0.shape[1:], generator=g) for g in gens]).to(x0)
        if fixed_sigma is not None:
            sigma = torch.full((x0.shape[0],), float(fixed_sigma))
            drop = torch.zeros(x0.shape[0], dtype=torch.bool)
        else:
            o = self.options
            sigma = torch.cat(
                [
                    sample_sigmas(1, g, o.timestep_mean, o.timestep_std, self.train_shift())
                    for g in gens
                ]
            )
            drop = torch.cat([cfg_dropout_mask(1, o.cfg_dropout, g) for g in gens])
        return noise, sigma.to(x0.device), drop.to(x0.device)

    def loss_at(self, model, batch, fixed_sigma: float | None = None) -> torch.Tensor:
        """Flow-matching loss of a batch (random noise levels and CFG dropout unless fixed)."""
        x0 = batch["latents"]
        noise, sigma, drop = self._noise(batch, fixed_sigma)
        hidden = batch["encoder_hidden_states"].to(x0.dtype)
        null = self.null_emb.to(hidden).expand_as(hidden)
        hidden = torch.where(drop.view(-1, 1, 1), null, hidden)
        x_t, target = noisy_latents_and_target(x0, noise, sigma)
        context = ace_step.context_latents(self.silence.to(x0), x0.shape[0], x0.shape[1])
        prediction = ace_step.velocity(model, x_t, sigma, hidden, context)
        return flow_matching_loss(prediction, target, batch["frame_mask"])

    def training_loss(self, model: nn.Module, batch: Any) -> torch.Tensor:
        return self.loss_at(model, batch)

    def evaluate(self, model: nn.Module, dataset) -> dict[str, float]:
        """Validation flow-matching loss at fixed noise levels, noise and crops (no CFG dropout)."""
        losses = []
        with torch.no_grad():
            for i in range(len(dataset)):
                batch = collate_clips([dataset[i]])
                for s in EVAL_SIGMAS:
                    losses.append(float(self.loss_at(model, batch, fixed_sigma=s)))
        return {"loss": sum(losses) / max(len(losses), 1)}

    # ------------------------------------------------------------------ saving and report

    def adapter_metadata(self) -> dict[str, Any]:
        return {
            "family": "generation",
            "base": self.config.model.name,
            "pipeline": pipeline_class_name(self.location),
            "variant": self.variant,
            "activation_tag": self.options.activation_tag,
        }

    def save_adapter(self, model: nn.Module, path: Path) -> None:
        from ...adapters import save_adapter

        save_adapter(model, path, self.adapter_metadata())

    def plan(self, model: nn.Module) -> dict[str, Any]:
        facts = super().plan(model)
        cache = self.cache()
        facts.update(
            base=self.config.model.name,
            variant=self.variant,
            clips=f"{len(self.split_indices('train'))} train / {len(self.split_indices('valid'))} valid",
            cache=str(cache.folder),
            window=f"{self.window_frames()} latent frames",
        )
        return facts

    def after_evaluation(self, model: nn.Module, step: int, run_dir: Path, log: Any) -> None:
        every = self.options.sample_every
        if not (every and step % every == 0):
            return
        if not self.samples_while_training:
            import warnings

            warnings.warn(
                f"generation.sample_every: samples while training are not built for {self.kind} "
                "yet; the end-of-run report still generates base vs adapted",
                stacklevel=2,
            )
            return
        from .samples import write_samples

        write_samples(self, model, step, run_dir, log)

    def final_report(self, model: nn.Module, run_dir: Path) -> dict[str, Any]:
        from .report import generation_report

        return generation_report(self, model, run_dir)


def pipeline_kind_name(location: str) -> str:
    from .bases import SUPPORTED

    return SUPPORTED[pipeline_class_name(location)]


def checkpoint_kind(name: str) -> str:
    """The kind of checkpoint `name` is (ace-step, stable-audio, ...), from its own files."""
    return pipeline_kind_name(resolve_location(name))


KIND_FAMILIES["ace-step"] = GenerationFamily


__all__ = ["GenerationFamily", "pipeline_kind"]
