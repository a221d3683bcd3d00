"""Several adapters on one base: switch, weight, merge (also a weighted sum), unmerge, delete, export."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch
import torch.nn as nn
from peft.tuners.lokr.layer import LoKrLayer
from peft.tuners.lora.layer import LoraLayer
from safetensors.torch import save_file
from torch.nn.utils import parametrize

from ..errors import AudioloraError
from .layers import mha_weight_slots
from .modules import adapters_of, base_state_dict, freeze_all_but, tuner_layers
from .slices import bake_slices


def _check_names(model: nn.Module, names: list[str]) -> None:
    known = adapters_of(model)
    for n in names:
        if n not in known:
            raise AudioloraError(f"no adapter named {n!r} (attached: {', '.join(known) or 'none'})")


def _layer_adapters(layer) -> list[str]:
    if isinstance(layer, LoraLayer):
        return list(layer.lora_A.keys())
    if isinstance(layer, LoKrLayer):
        return sorted(layer._available_adapters)
    return []


def _base_scaling(layer, name: str) -> float:
    if isinstance(layer, LoraLayer):
        r, alpha = layer.r[name], layer.lora_alpha[name]
        return alpha / r**0.5 if layer.use_rslora.get(name) else alpha / r
    return layer.alpha[name] / layer.r[name]


def set_active_adapter(model: nn.Module, names: str | list[str], trainable: bool = True) -> None:
    """Make `names` the active adapter(s) (their outputs are summed); only they stay trainable."""
    names = [names] if isinstance(names, str) else list(names)
    _check_names(model, names)
    for _, layer in tuner_layers(model):
        if layer.merged:
            raise AudioloraError("unmerge the adapters before switching (unmerge_adapter(model))")
        layer.set_adapter([n for n in names if n in _layer_adapters(layer)] or names)
    if trainable:
        freeze_all_but(model, names)
    else:
        freeze_all_but(model, [])


def set_adapter_weights(model: nn.Module, weights: dict[str, float]) -> None:
    """Activate the adapters in `weights` with those weights: output = base + sum w_i * delta_i."""
    _check_names(model, list(weights))
    set_active_adapter(model, list(weights))
    for _, layer in tuner_layers(model):
        for name, w in weights.items():
            if name in _layer_adapters(layer):
                layer.scaling[name] = w * _base_scaling(layer, name)


def merge_adapter(
    model: nn.Module, weights: dict[str, float] | None = None, *, unload: bool = False
) -> nn.Module:
    """Bake the active adapters (or a weighted sum, `weights={name: w}`) and trainable slices into the
    base weights. The adapter layers stay (so `unmerge_adapter` restores the base) unless
    `unload=True`, which leaves plain base layers. Trainable slices are baked permanently.
    """
    if weights:
        set_adapter_weights(model, weights)
    bake_slices(model)
    for _, layer in tuner_layers(model):
        try:
            layer.merge(
                adapter_names=[a for a in layer.active_adapters if a in _layer_adapters(layer)]
            )
        except NotImplementedError as exc:
            raise AudioloraError(f"cannot merge: {exc}") from exc
    if unload:
        _unwrap(model)
        model.__dict__.pop("_audiolora_adapters", None)
        for p in model.parameters():
            p.requires_grad_(False)
    return model


def unmerge_adapter(model: nn.Module) -> nn.Module:
    """Subtract merged adapters from the base weights again (slices stay baked)."""
    for _, layer in tuner_layers(model):
        if layer.merged:
            layer.unmerge()
    return model


def _unwrap(model: nn.Module, only_empty: bool = False) -> None:
    for name, layer in tuner_layers(model):
        if only_empty and _layer_adapters(layer):
            continue
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, layer.get_base_layer())


def delete_adapter(model: nn.Module, adapter_name: str) -> None:
    """Remove an adapter (factors and slices); layers left without adapters become plain again."""
    record = adapters_of(model).pop(adapter_name, None)
    if record is None:
        raise AudioloraError(f"no adapter named {adapter_name!r}")
    for _, layer in tuner_layers(model):
        if adapter_name in _layer_adapters(layer):
            if adapter_name in layer.merged_adapters:
                layer.unmerge()
            layer.delete_adapter(adapter_name)
    _unwrap(model, only_empty=True)
    for qualified in record.slices:
        module_name, _, pname = qualified.rpartition(".")
        module = model.get_submodule(module_name)
        module = module.get_base_layer() if hasattr(module, "get_base_layer") else module
        if parametrize.is_parametrized(module, pname):
            parametrize.remove_parametrizations(module, pname, leave_parametrized=False)
    remaining = list(adapters_of(model))
    if remaining:
        set_active_adapter(model, remaining[:1])


def merged_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The base weights with the active adapters (at their current weights) and slices added,
    under the base model's own names; the model is left as it was."""
    out = {k: v.detach().clone() for k, v in base_state_dict(model).items()}
    for name, mod in [("", model), *[(n, m) for n, m in model.named_modules() if n]]:
        if parametrize.is_parametrized(mod) and ".lora_" not in name:
            clean = name.replace(".base_layer", "")
            for pname in mod.parametrizations:
                out[f"{clean}.{pname}" if clean else pname] = getattr(mod, pname).detach().clone()
    for name, layer in tuner_layers(model):
        if layer.merged:
            continue
        for adapter in layer.active_adapters:
            if adapter not in _layer_adapters(layer):
                continue
            with torch.no_grad():
                delta = layer.get_delta_weight(adapter)
            if isinstance(delta, dict):  # MultiheadAttention: per part
                slots = mha_weight_slots(layer.get_base_layer())
                for part, d in delta.items():
                    pname, rows = slots[part]
                    target = out[f"{name}.{pname}"]
                    target = target if rows is None else target[rows]
                    target += d
            else:
                out[f"{name}.weight"] += delta.reshape(out[f"{name}.weight"].shape)
    return out


def export_merged(model: nn.Module, path: str | Path) -> Path:
    """Write the merged base model (active adapters + slices baked in) as one safetensors file,
    atomically, under the base model's own parameter names. The model itself is not changed."""
    path = Path(path)
    tensors = {k: v.contiguous().cpu() for k, v in merged_state_dict(model).items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata={"format": "pt", "producer": "audiolora"})
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
