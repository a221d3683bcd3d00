"""Save / load adapters in the PEFT folder layout (+ audiolora.json), LyCORIS LoKr export.

Folder: `adapter_config.json` (PEFT's own config, so adapters on PEFT-native layers load with plain
`peft.PeftModel.from_pretrained`), `adapter_model.safetensors` (PEFT keys, `base_model.model.` prefix;
trainable slices as `audiolora_slices.<param>`), `audiolora.json` (targets, ranks, MHA parts, slices,
base hash and the caller's metadata: family, base id, sources, ...).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file

from ..errors import AudioloraError
from .engine import inject, peft_config_for
from .modules import AdapterRecord, adapters_of, base_hash, freeze_all_but, trainable_tensors
from .slices import SLICE_PREFIX
from .spec import AdapterSpec

CONFIG_NAME = "adapter_config.json"
WEIGHTS_NAME = "adapter_model.safetensors"
META_NAME = "audiolora.json"
PEFT_PREFIX = "base_model.model."


def _strip_adapter_name(name: str, adapter_name: str) -> str:
    return name.replace(f".{adapter_name}.", ".", 1) if f".{adapter_name}." in name else name


def adapter_state_dict(model: nn.Module, adapter_name: str = "default") -> dict[str, torch.Tensor]:
    """Every trainable tensor of the adapter (low-rank factors in PEFT key form, plus slices),
    detached; what the trainer checkpoints."""
    if adapter_name not in adapters_of(model):
        raise AudioloraError(f"the model has no adapter named {adapter_name!r}")
    return {
        _strip_adapter_name(k, adapter_name) if not k.startswith(SLICE_PREFIX) else k: v.detach()
        for k, v in trainable_tensors(model, adapter_name).items()
    }


def load_adapter_state_dict(
    model: nn.Module,
    state_dict: dict[str, torch.Tensor],
    adapter_name: str = "default",
    source: str = "state dict",
) -> None:
    """Copy `state_dict` (as from adapter_state_dict) into the adapter; strict: one-line error on a
    missing or unexpected key or a shape mismatch, and nothing is changed then."""
    params = {
        (_strip_adapter_name(k, adapter_name) if not k.startswith(SLICE_PREFIX) else k): p
        for k, p in trainable_tensors(model, adapter_name).items()
    }
    missing = sorted(set(params) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(params))
    if missing:
        raise AudioloraError(
            f"{source}: missing {len(missing)} adapter tensor(s), e.g. {missing[0]} (was it saved from this model and targets?)"
        )
    if unexpected:
        raise AudioloraError(
            f"{source}: {len(unexpected)} unexpected tensor(s), e.g. {unexpected[0]} (saved from another model or targets?)"
        )
    for k, p in params.items():
        if tuple(state_dict[k].shape) != tuple(p.shape):
            raise AudioloraError(
                f"{source}: shape mismatch for {k}: file {tuple(state_dict[k].shape)}, model {tuple(p.shape)}"
            )
    with torch.no_grad():
        for k, p in params.items():
            p.copy_(state_dict[k].to(p.dtype))


def _atomic_dir(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp-"))


def _publish(tmp: Path, path: Path) -> None:
    """Move the finished temp folder into place (the old folder is replaced only after success)."""
    if path.exists():
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, path)


def save_adapter(
    model: nn.Module, path: str | Path, metadata: dict | None = None, adapter_name: str = "default"
) -> Path:
    """Write the adapter folder atomically (temp dir + rename); returns its path."""
    path = Path(path)
    if adapter_name not in adapters_of(model):
        raise AudioloraError(f"the model has no adapter named {adapter_name!r} to save")
    record = adapters_of(model)[adapter_name]
    spec = AdapterSpec(**record.spec)
    tensors = {
        (k if k.startswith(SLICE_PREFIX) else PEFT_PREFIX + k): v.contiguous().cpu()
        for k, v in adapter_state_dict(model, adapter_name).items()
    }
    meta = {
        "format": "audiolora-adapter/1",
        "adapter": record.to_json(),
        "base_hash": base_hash(model, record.slices),
        "metadata": dict(metadata or {}),
    }
    tmp = _atomic_dir(path)
    try:
        peft_config_for(spec, record).save_pretrained(str(tmp))
        save_file(tensors, str(tmp / WEIGHTS_NAME), metadata={"format": "pt"})
        (tmp / META_NAME).write_text(json.dumps(meta, indent=2, default=str))
        _publish(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def read_adapter_metadata(path: str | Path) -> dict:
    """The caller's metadata saved with the adapter, plus `base_hash`, `kind`, `targets`, `ranks`."""
    meta = _read_meta(Path(path))
    record = meta["adapter"]
    return {
        **meta.get("metadata", {}),
        "base_hash": meta.get("base_hash"),
        "kind": record["spec"]["kind"],
        "targets": record["names"],
        "ranks": record["ranks"],
        "trainable_slices": record.get("slices", {}),
    }


def _read_meta(path: Path) -> dict:
    file = path / META_NAME
    if not path.is_dir():
        raise AudioloraError(f"{path}: no such adapter folder")
    if not file.exists():
        raise AudioloraError(
            f"{path}: no {META_NAME} (not an audiolora adapter folder; a plain PEFT adapter loads with peft.PeftModel.from_pretrained)"
        )
    try:
        return json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        raise AudioloraError(f"{file}: not valid JSON ({exc.msg} at line {exc.lineno})") from None


def load_adapter(
    base: nn.Module, path: str | Path, *, adapter_name: str = "default", check_hash: bool = True
) -> nn.Module:
    """Attach the adapter saved at `path` to `base` in place and load its tensors, strictly.

    Refuses with one line: missing/unexpected keys, shape mismatches, and a base whose weight hash
    differs from the recorded one (pass check_hash=False to override). Never a partial load.
    """
    path = Path(path)
    meta = _read_meta(path)
    slices = meta.get("adapter", {}).get("slices", {})
    if check_hash and meta.get("base_hash"):
        found = base_hash(base, slices)
        if found != meta["base_hash"]:
            raise AudioloraError(
                f"{path}: the base model's weights differ from the ones this adapter was trained on "
                f"(hash {found} != {meta['base_hash']}); use the same base or check_hash=False"
            )
    weights = path / WEIGHTS_NAME
    if not weights.exists():
        raise AudioloraError(f"{path}: missing {WEIGHTS_NAME}")
    try:
        tensors = load_file(str(weights))
    except Exception as exc:
        raise AudioloraError(f"{weights}: unreadable safetensors file ({exc})") from None
    state = {
        (k[len(PEFT_PREFIX) :] if k.startswith(PEFT_PREFIX) else k): v for k, v in tensors.items()
    }
    record = AdapterRecord(**meta["adapter"])
    spec = AdapterSpec(**record.spec)
    missing_modules = [n for n in record.names if not _has_module(base, n)]
    if missing_modules:
        raise AudioloraError(
            f"{path}: the base model has no module {missing_modules[0]!r} this adapter targets"
        )
    snapshot = {k: p.requires_grad for k, p in base.named_parameters()}
    inject(base, spec, record, adapter_name)
    try:
        load_adapter_state_dict(base, state, adapter_name, source=str(weights))
    except AudioloraError:
        from .merge import delete_adapter

        delete_adapter(base, adapter_name)
        for k, p in base.named_parameters():
            if k in snapshot:
                p.requires_grad_(snapshot[k])
        raise
    freeze_all_but(base, [adapter_name])
    return base


def _has_module(model: nn.Module, name: str) -> bool:
    try:
        model.get_submodule(name)
        return True
    except AttributeError:
        return False


def _lycoris_factors(layer, adapter_name: str) -> dict[str, torch.Tensor]:
    """One PEFT LoKr layer's factors under LyCORIS's names, PEFT's scaling folded into w1 / w1_a."""
    w2 = layer.lokr_w2.get(adapter_name)
    if w2 is not None and w2.dim() == 3:
        # PEFT lays out a full 3-D w2 (Conv1d) as kron(w2, w1) per kernel tap, LyCORIS as
        # kron(w1, w2): no factor pair is both, so write the whole delta as w2 beside a 1 x 1 w1.
        delta = layer.get_delta_weight(adapter_name).detach()
        return {"lokr_w1": torch.ones(1, 1, dtype=delta.dtype), "lokr_w2": delta}
    out = {}
    for attr in layer.adapter_layer_names:
        store = getattr(layer, attr)
        if adapter_name in store:
            t = store[adapter_name].detach()
            out[attr] = t * layer.scaling[adapter_name] if attr in ("lokr_w1", "lokr_w1_a") else t
    return out


def export_lycoris(
    model: nn.Module,
    path: str | Path,
    adapter_name: str = "default",
    skip_unsupported: bool = False,
) -> Path:
    """Write a LoKr adapter as the LyCORIS pair `lokr_config.json` + `lokr_weights.safetensors`.

    Keys follow LyCORIS (`lycoris_<module_with_underscores>.lokr_w1` ...) and load with
    `lycoris.create_lycoris_from_weights`; PEFT's scaling is folded into w1 (or w1_a) and each
    `.alpha` is the rank, so LyCORIS's alpha/rank scale is 1. LyCORIS has no LoKr for
    ConvTranspose or nn.MultiheadAttention (its loader fails on them): such layers are refused,
    or left out and listed under `skipped` in the config with `skip_unsupported=True`.
    """
    from peft.tuners.lokr.layer import LoKrLayer

    from .modules import tuner_layers

    record = adapters_of(model).get(adapter_name)
    if record is None or record.spec["kind"] != "lokr":
        raise AudioloraError(f"export_lycoris: adapter {adapter_name!r} is not a LoKr adapter")
    layers = [
        (name, layer)
        for name, layer in tuner_layers(model)
        if isinstance(layer, LoKrLayer) and adapter_name in layer._available_adapters
    ]
    lycoris_types = (nn.Linear, nn.Conv1d, nn.Conv2d)
    skipped = [n for n, la in layers if not isinstance(la.get_base_layer(), lycoris_types)]
    if skipped and not skip_unsupported:
        raise AudioloraError(
            f"export_lycoris: LyCORIS cannot load LoKr on {len(skipped)} module(s) ({', '.join(skipped[:3])}: "
            "ConvTranspose / MultiheadAttention); pass skip_unsupported=True to leave them out"
        )
    out: dict[str, torch.Tensor] = {}
    for name, layer in layers:
        if name in skipped:
            continue
        key = "lycoris_" + name.replace(".", "_")
        for attr, t in _lycoris_factors(layer, adapter_name).items():
            out[f"{key}.{attr}"] = t.cpu().contiguous()
        out[f"{key}.alpha"] = torch.tensor(float(layer.r[adapter_name]))
    spec = record.spec
    config = {
        "algo": "lokr",
        "linear_dim": spec["rank"],
        "linear_alpha": spec["rank"],
        "factor": spec["lokr_factor"],
        "decompose_both": spec["lokr_decompose_both"],
        "target_modules": [n for n in record.names if n not in skipped],
        "ranks": {n: r for n, r in record.ranks.items() if n not in skipped},
        "skipped": skipped,
        "note": "PEFT scaling folded into lokr_w1; alpha == rank so the LyCORIS scale is 1",
    }
    path = Path(path)
    tmp = _atomic_dir(path)
    try:
        save_file(out, str(tmp / "lokr_weights.safetensors"), metadata={"format": "pt"})
        (tmp / "lokr_config.json").write_text(json.dumps(config, indent=2))
        _publish(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path
