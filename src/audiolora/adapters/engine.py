"""Attach adapters to a model in place, on PEFT's injection machinery, and keep a record of them."""

from __future__ import annotations

import hashlib
import re
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn as nn
from peft import LoKrConfig, LoraConfig, inject_adapter_in_model
from peft.tuners.tuners_utils import BaseTunerLayer
from torch.nn.utils import parametrize

from ..errors import AudioloraError
from .layers import lora_dispatch
from .lokr import AudioLoKrModel
from .slices import SLICE_PREFIX, add_trainable_slices, original_tensor, slice_parameters
from .spec import AdapterSpec
from .targets import Targets, base_of, model_module_names, resolve_targets

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


def _exact(names: list[str]) -> str:
    return "^(?:" + "|".join(re.escape(n) for n in names) + ")$"


def _pattern_dict(values: dict[str, Any], default: Any) -> dict[str, Any]:
    # PEFT matches rank_pattern keys with re.match(rf"(.*\.)?({key})$"); a leading ^ makes it exact.
    return {"^" + re.escape(n): v for n, v in values.items() if v != default}


def peft_config_for(spec: AdapterSpec, record: AdapterRecord):
    """The PEFT config (LoraConfig or LoKrConfig) that builds exactly this adapter."""
    common = dict(
        target_modules=_exact(record.names),
        rank_pattern=_pattern_dict(record.ranks, spec.rank),
        alpha_pattern=_pattern_dict(record.alphas, spec.alpha),
    )
    if spec.kind == "lokr":
        return LoKrConfig(
            r=spec.rank,
            alpha=spec.alpha,
            module_dropout=spec.dropout,
            decompose_factor=spec.lokr_factor,
            decompose_both=spec.lokr_decompose_both,
            init_weights=True,
            **common,
        )
    config = LoraConfig(
        r=spec.rank,
        lora_alpha=spec.alpha,
        lora_dropout=spec.dropout,
        init_lora_weights=True if spec.init == "kaiming" else "gaussian",
        use_rslora=spec.use_rslora,
        **common,
    )
    config._register_custom_module(lora_dispatch(record.mha_parts))
    return config


def inject(model: nn.Module, spec: AdapterSpec, record: AdapterRecord, adapter_name: str) -> None:
    """Inject the adapter `record` describes, in place; only its tensors (and slices) stay trainable."""
    if adapter_name in adapters_of(model):
        raise AudioloraError(f"the model already has an adapter named {adapter_name!r}")
    if record.slices:
        add_trainable_slices(model, {k: (d, i) for k, (d, i) in record.slices.items()})
    config = peft_config_for(spec, record)
    try:
        with warnings.catch_warnings():
            # PEFT warns on layer types it does not know; ours are handled by audiolora's layers.
            warnings.filterwarnings("ignore", message="Unsupported layer type")
            # Several adapters on one model are tracked by audiolora's own record.
            warnings.filterwarnings("ignore", message="Already found a `peft_config`")
            if spec.kind == "lokr":
                AudioLoKrModel(model, config, adapter_name=adapter_name, mha_parts=record.mha_parts)
            else:
                inject_adapter_in_model(config, model, adapter_name=adapter_name)
    except (ValueError, TypeError, NotImplementedError) as exc:
        raise AudioloraError(
            f"cannot attach the {spec.kind} adapter: {' '.join(str(exc).split())}"
        ) from exc
    adapters_of(model)[adapter_name] = record
    from .merge import set_active_adapter

    set_active_adapter(model, adapter_name)


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


def attach_adapter(
    model: nn.Module,
    spec: AdapterSpec,
    *,
    example_inputs: tuple | None = None,
    trainable_slices: dict[str, tuple[int, list[int]]] | None = None,
    adapter_name: str = "default",
) -> nn.Module:
    """Inject the adapter `spec` describes into `model` IN PLACE and freeze everything else.

    Returns the same object (class unchanged). With `example_inputs` (a tuple of forward args), checks
    that every adapted module influences the output and fails naming the dead ones. `trainable_slices`
    (`{param_name: (dim, [indices])}`) trains those slices of base tensors in full; they are saved with
    the adapter and survive load and merge.
    """
    from .ranks import compute_ranks

    targets: Targets = resolve_targets(
        model, spec.targets, spec.exclude, spec.kind, shortcut=spec.attention_globs()
    )
    ranks = compute_ranks(model, spec, targets.names)
    record = AdapterRecord(
        spec=spec.model_dump(mode="json"),
        names=targets.names,
        mha_parts={k: list(v) for k, v in targets.mha_parts.items()},
        ranks=ranks,
        alphas={n: spec.alpha_for(n) for n in targets.names},
        slices={
            k: [int(d), [int(i) for i in idx]] for k, (d, idx) in (trainable_slices or {}).items()
        },
    )
    inject(model, spec, record, adapter_name)
    if example_inputs is not None:
        from .live import check_live

        check_live(model, example_inputs, adapter_name)
    return model


def slice_key(qualified: str) -> str:
    return SLICE_PREFIX + qualified
