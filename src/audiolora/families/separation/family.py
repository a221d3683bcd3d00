"""The separation Family: HT-Demucs (and HDemucs) with LoRA, source linkage and SDR evaluation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import Dataset

from ...config import RunConfig
from ...errors import ConfigError, DataError
from ..base import Family, register_family
from .linkage import Link
from .losses import separation_loss
from .model import build_linked_base
from .targets import default_targets, resolve_aliases


def links_to_json(links: list[Link]) -> dict[str, str]:
    """The linkage as it is saved with the adapter (every stem explicit)."""
    out = {}
    for link in links:
        if not link.is_new:
            out[link.stem] = link.base
        elif link.init == "copy":
            out[link.stem] = f"new:copy:{link.copy_from}"
        else:
            out[link.stem] = f"new:{link.init}"
    return out


def unwrapped(model: nn.Module) -> nn.Module:
    """The model itself inside DistributedDataParallel (or another Accelerate wrapper): attributes
    such as `segment` and `training` live there; the forward still goes through the wrapper."""
    from accelerate.utils import extract_model_from_parallel

    return extract_model_from_parallel(model)


class KeyedItem(NamedTuple):
    """A training item with where it came from: the augmentation of its batch is seeded from it."""

    index: int
    epoch: int
    item: Any


class SeededBatch(NamedTuple):
    """A collated training batch and the seed of its augmentation (from seed, epoch and indices)."""

    batch: Any
    seed: int


class KeyedItems(Dataset):
    """The training set with each item's (index, epoch) attached (`KeyedItem`).

    The family's collate turns the indices of a micro-batch into the seed of its augmentation, so
    remix, gain, polarity and channel swap depend on (run seed, epoch, indices) only: the same after
    a resume, with any number of DataLoader workers and on every process of a multi-process run.
    """

    def __init__(self, dataset: Dataset):
        self.dataset = dataset
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> KeyedItem:
        return KeyedItem(int(index), self.epoch, self.dataset[index])


def augment_seed(seed: int, epoch: int, indices: list[int]) -> int:
    """A 63-bit seed for one micro-batch's augmentation (its own stream: the crops use
    [seed, epoch, index] directly)."""
    words = np.random.SeedSequence([int(seed), 0x5E9A, int(epoch), *map(int, indices)])
    a, b = words.generate_state(2, dtype=np.uint32)
    return (int(a) << 31) ^ int(b)


@register_family("separation")
class SeparationFamily(Family):
    """HT-Demucs separation: linked/new stems, L1/L2/MR-STFT loss, SDR base vs adapted."""

    def __init__(self, config: RunConfig):
        super().__init__(config)
        self.links: list[Link] = []
        self.segment = None
        self._augment = config.data.augment.build()

    # ------------------------------------------------------------------ model

    @property
    def sources(self) -> list[str]:
        return [link.stem for link in self.links]

    def build_model(self) -> nn.Module:
        from ...adapters import attach_adapter

        cfg = self.config
        model, self.links, slices, base = build_linked_base(
            cfg.model.name,
            cfg.separation.source_linkage,
            cfg.data.sources or None,
            cfg.separation.new_stem_init,
        )
        if cfg.data.root and cfg.data.samplerate != base.samplerate:
            raise ConfigError(
                f"data.samplerate={cfg.data.samplerate} but {cfg.model.name} runs at {base.samplerate} Hz; "
                f"set data.samplerate={base.samplerate} (stems are resampled on load with data.allow_resample=true)"
            )
        spec = cfg.adapter
        updates: dict[str, Any] = {}
        if not spec.targets and spec.attention is None:
            updates["targets"] = default_targets(model)
        if spec.layer_ranks:
            updates["layer_ranks"] = resolve_aliases(spec.layer_ranks, model)
        if spec.layer_alphas:
            updates["layer_alphas"] = resolve_aliases(spec.layer_alphas, model)
        if updates:
            spec = spec.model_copy(update=updates)
        self.segment = model.segment
        example = torch.randn(1, model.audio_channels, int(float(model.segment) * model.samplerate))
        model.eval()
        attach_adapter(model, spec, example_inputs=(example,), trainable_slices=slices or None)
        model.segment = self.segment
        self.base_name = cfg.model.name
        return model

    def set_gradient_checkpointing(self, model: nn.Module, enabled: bool) -> None:
        from ...adapters import enable_gradient_checkpointing

        enable_gradient_checkpointing(model, enabled=enabled)

    def full_parameter_names(self, model: nn.Module) -> list[str]:
        return [
            n for n, p in model.named_parameters() if p.requires_grad and ".parametrizations." in n
        ]

    # ------------------------------------------------------------------ data

    def _data(self):
        data = self.config.data
        if not data.sources:
            data = data.model_copy(update={"sources": self.sources})
        return data

    def datasets(self):
        from ...data.stems import stem_datasets

        train, valid = stem_datasets(self._data(), seed=self.config.run.seed)
        return KeyedItems(train), valid

    def collate(self, items: list[Any]) -> Any:
        if items and isinstance(items[0], KeyedItem):
            batch = super().collate([it.item for it in items])
            seed = augment_seed(self.config.run.seed, items[0].epoch, [it.index for it in items])
            return SeededBatch(batch, seed)
        return super().collate(items)

    def _stems(self, batch) -> torch.Tensor:
        stems = batch[0] if isinstance(batch, (tuple, list)) else batch
        if stems.dim() != 4:
            raise DataError(
                f"separation batches must be [batch, stems, channels, time], got {tuple(stems.shape)}"
            )
        return stems

    def training_loss(self, model: nn.Module, batch: Any) -> torch.Tensor:
        seed = None
        if isinstance(batch, SeededBatch):
            batch, seed = batch
        stems = self._stems(batch)
        # `model` may be wrapped (DistributedDataParallel): attributes from the model itself,
        # the forward through the wrapper (it synchronises the gradients).
        inner = unwrapped(model)
        if self._augment is not None and inner.training:
            if seed is None:  # a batch not from our collate: torch's RNG (checkpointed)
                seed = int(torch.randint(0, 2**62, (1,)))
            gen = torch.Generator(device="cpu").manual_seed(seed)
            stems = self._augment(stems.cpu(), gen).to(stems.device)
        mix = stems.sum(1)
        segment = inner.segment
        try:
            estimate = model(mix)
        finally:
            inner.segment = segment  # a training forward overwrites it (demucs quirk)
        return separation_loss(estimate, stems, self.config.separation, self.sources)

    # ------------------------------------------------------------------ evaluation

    def evaluate(self, model: nn.Module, dataset) -> dict[str, float]:
        from ...metrics.sdr import sdr_mdx
        from .separate import separate_tensor

        losses, scores = [], {s: [] for s in self.sources}
        for i in range(len(dataset)):
            item = dataset[i]
            stems = self._stems(self.collate([item]))
            est = separate_tensor(
                model, stems[0].sum(0), shifts=0, overlap=self.config.eval.overlap
            )
            losses.append(
                float(separation_loss(est[None], stems, self.config.separation, self.sources))
            )
            for s, value in zip(self.sources, sdr_mdx(stems[0], est), strict=True):
                scores[s].append(float(value))
        metrics = {"loss": sum(losses) / max(len(losses), 1)}
        for s, values in scores.items():
            metrics[f"sdr_{s}"] = sum(values) / max(len(values), 1)
        metrics["sdr"] = sum(metrics[f"sdr_{s}"] for s in self.sources) / max(len(self.sources), 1)
        return metrics

    def final_report(self, model: nn.Module, run_dir: Path) -> dict[str, Any]:
        from .evaluate import evaluate_run_model

        return evaluate_run_model(self.config, model, self.links, run_dir)

    # ------------------------------------------------------------------ saving

    def adapter_metadata(self, model: nn.Module) -> dict[str, Any]:
        return {
            "family": "separation",
            "base": self.config.model.name,
            "sources": self.sources,
            "source_linkage": links_to_json(self.links),
            "samplerate": int(model.samplerate),
            "audio_channels": int(model.audio_channels),
            "segment": float(self.segment) if self.segment is not None else None,
        }

    def save_adapter(self, model: nn.Module, path: Path) -> None:
        from ...adapters import save_adapter

        save_adapter(model, path, self.adapter_metadata(model))

    def plan(self, model: nn.Module) -> dict[str, Any]:
        facts = super().plan(model)
        facts.update(
            base=self.config.model.name,
            sources=", ".join(self.sources),
            linkage=json.dumps(links_to_json(self.links)),
            samplerate=int(model.samplerate),
        )
        return facts
