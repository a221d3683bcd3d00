"""The adapters on a model: their records, their tensors, freezing, and the base weights beneath them.

The low level of the adapter engine: it imports no other engine module, so `engine`, `merge`,
`ranks`, `io` and `report` all build on it and imports run one way.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
from peft.tuners.tuners_utils import BaseTunerLayer
from torch.nn.utils import parametrize

from .slices import original_tensor, slice_parameters
from .targets import base_of, model_module_names

ADAPTER_PREFIXES = ("lora_", "lokr_")


@dataclass
class AdapterRecord:
    """Everything needed to rebuild an adapter on a fresh base: written into audiolora.json."""

    spec: dict
    names: list[str]
    mha_parts: dict[str, list[str]]
    ranks: dict[str, int]
    alphas: dict[str, float]
    slices: dict[str, list] = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)


def adapters_of(model: nn.Module) -> dict[str, AdapterRecord]:
    """The adapters attached to `model` by audiolora, by name."""
    return model.__dict__.setdefault("_audiolora_adapters", {})


def adapter_parameters(model: nn.Module, adapter_name: str) -> dict[str, nn.Parameter]:
    """`{model parameter name: parameter}` of one adapter's own tensors (no slices)."""
    out = {}
    for name, param in model.named_parameters():
        parts = name.split(".")
        for i, part in enumerate(parts[:-1]):
            if part.startswith(ADAPTER_PREFIXES) and parts[i + 1] == adapter_name:
                out[name] = param
                break
    return out


def trainable_tensors(model: nn.Module, adapter_name: str) -> dict[str, nn.Parameter]:
    """Every trainable tensor of an adapter: its low-rank factors and its trainable slices."""
    record = adapters_of(model)[adapter_name]
    return {**adapter_parameters(model, adapter_name), **slice_parameters(model, record.slices)}


def freeze_all_but(model: nn.Module, adapter_names: list[str]) -> None:
    """requires_grad only on the tensors of `adapter_names` (factors and slices); all else frozen."""
    keep = set()
    for name in adapter_names:
        keep.update(id(p) for p in trainable_tensors(model, name).values())
    for param in model.parameters():
        param.requires_grad_(id(param) in keep)


def tuner_layers(model: nn.Module) -> list[tuple[str, BaseTunerLayer]]:
    """(name, adapter layer) for every PEFT/audiolora adapter layer in the model."""
    return [(n, m) for n, m in model_module_names(model) if isinstance(m, BaseTunerLayer)]


def base_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The base model's tensors under their original names (adapter wrappers and slices looked
    through; slice regions zeroed, so a hash does not depend on how new slices were initialised)."""
    out: dict[str, torch.Tensor] = {}

    def walk(module: nn.Module, prefix: str) -> None:
        module = base_of(module)
        tensors = dict(module.named_parameters(recurse=False))
        tensors.update(module.named_buffers(recurse=False))
        if parametrize.is_parametrized(module):
            for pname in module.parametrizations:
                tensors[pname] = original_tensor(module, pname)
        for pname, t in tensors.items():
            if t is not None:
                out[prefix + pname] = t
        for child_name, child in module.named_children():
            if child_name != "parametrizations":
                walk(child, f"{prefix}{child_name}.")

    walk(model, "")
    return out


def base_hash(model: nn.Module, slices: dict | None = None) -> str:
    """sha256 over the base weights (names, shapes, float32 bytes), adapters excluded; regions that
    `slices` (`{param: (dim, indices)}`) trains are zeroed, on a base that does not have them yet too."""
    h = hashlib.sha256()
    tensors = base_state_dict(model)
    for name, (dim, index) in (slices or {}).items():
        if name in tensors:
            tensors[name] = tensors[name].index_fill(dim, torch.as_tensor(index), 0)
    for name, t in sorted(tensors.items()):
        h.update(f"{name}:{tuple(t.shape)}".encode())
        h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()[:16]
