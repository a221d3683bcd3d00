"""`audiolora inspect`: a table of a model's modules, shapes and parameter counts."""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn


@dataclass
class ModuleRow:
    name: str
    type: str
    shape: str
    params: int


def module_rows(model: nn.Module, leaves_only: bool = True) -> list[ModuleRow]:
    """One row per module that owns parameters (or per leaf module), in definition order."""
    rows = []
    for name, module in model.named_modules():
        if not name:
            continue
        own = list(module.parameters(recurse=False))
        if leaves_only and not own:
            continue
        weight = getattr(module, "weight", None)
        shape = "x".join(str(s) for s in weight.shape) if weight is not None else ""
        rows.append(ModuleRow(name, type(module).__name__, shape, sum(p.numel() for p in own)))
    return rows


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(total, trainable) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable
