"""Attach adapters to a model in place, on PEFT's injection machinery, and keep a record of them."""

from __future__ import annotations

import re
import warnings
from typing import Any

import torch.nn as nn
from peft import LoKrConfig, LoraConfig, inject_adapter_in_model

from ..errors import AudioloraError
from .containers import keep_fused_paths_off
from .layers import lora_dispatch
from .lokr import AudioLoKrModel
from .merge import set_active_adapter
from .modules import AdapterRecord, adapters_of
from .ranks import compute_ranks
from .slices import add_trainable_slices
from .spec import AdapterSpec
from .targets import Targets, resolve_targets


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
    set_active_adapter(model, adapter_name)
    keep_fused_paths_off(model)


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
