"""The contract between a model family and the trainer. The trainer calls only these methods and
knows nothing about audio; a family never reaches into the trainer."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from torch.utils.data import Dataset

from ..config import RunConfig


class Family(ABC):
    """One model family's side of a run (separation, transcription, generation)."""

    name: str = "family"

    def __init__(self, config: RunConfig):
        self.config = config

    @abstractmethod
    def build_model(self) -> nn.Module:
        """Load the base, attach the adapter (and any fully trained tensors); only those require grad."""

    @abstractmethod
    def datasets(self) -> tuple[Dataset, Dataset | None]:
        """(train, validation) datasets. Validation items must be deterministic (same crops each time)."""

    @abstractmethod
    def training_loss(self, model: nn.Module, batch: Any) -> torch.Tensor:
        """A scalar loss for one (micro-)batch, already on the model's device."""

    @abstractmethod
    def evaluate(self, model: nn.Module, dataset: Dataset) -> dict[str, float]:
        """Validation metrics on `dataset` (must include "loss"); lower-is-better unless the config says."""

    @abstractmethod
    def save_adapter(self, model: nn.Module, path: Path) -> None:
        """Write the adapter folder (PEFT layout + audiolora metadata) to `path`."""

    def collate(self, items: list[Any]) -> Any:
        """Turn dataset items into a batch (default: torch's default_collate)."""
        from torch.utils.data import default_collate

        return default_collate(items)

    def set_gradient_checkpointing(self, model: nn.Module, enabled: bool) -> None:
        """Switch gradient checkpointing in the family's blocks."""
        if enabled:
            raise NotImplementedError(f"{self.name}: gradient checkpointing is not supported")

    def plan(self, model: nn.Module) -> dict[str, Any]:
        """Facts printed before training: model, adapted modules, trainable parameters, data found."""
        total = sum(p.numel() for p in model.parameters())
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        return {"family": self.name, "parameters": total, "trainable": trainable}

    def full_parameter_names(self, model: nn.Module) -> list[str]:
        """Trainable tensors trained in full (e.g. new output heads); they use `train.full_lr`."""
        return []

    def after_evaluation(self, model: nn.Module, step: int, run_dir: Path, log: Any) -> None:
        """Called on the main process after each evaluation (e.g. to write audio samples)."""
        return None

    def final_report(self, model: nn.Module, run_dir: Path) -> dict[str, Any]:
        """Evaluation after training (base vs adapted); written into metrics.json by the trainer."""
        return {}


_FAMILIES: dict[str, type[Family]] = {}


def register_family(name: str):
    """Class decorator registering a Family under `model.family`."""

    def wrap(cls: type[Family]) -> type[Family]:
        cls.name = name
        _FAMILIES[name] = cls
        return cls

    return wrap


def get_family(config: RunConfig) -> Family:
    """Instantiate the family a config names (importing the family module registers it)."""
    import importlib

    name = config.model.family
    if name not in _FAMILIES:
        try:
            importlib.import_module(f"audiolora.families.{name}")
            # a family package may keep its Family in `family.py` (imported lazily: it needs config)
            importlib.import_module(f"audiolora.families.{name}.family")
        except ModuleNotFoundError:
            pass
    if name not in _FAMILIES:
        from ..errors import NotBuiltYet

        raise NotBuiltYet(f"model.family={name}: this family is not built yet")
    return _FAMILIES[name](config)
