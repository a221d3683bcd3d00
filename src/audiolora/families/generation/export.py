"""Adapter files in the layouts generation apps load, and a merged diffusers folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from safetensors.torch import load_file

from ...errors import AudioloraError
from .bases import load_pipeline

PEFT_PREFIX = "base_model.model."


def peft_lora_state(adapter_dir: str | Path) -> tuple[dict, dict]:
    """(tensors keyed `<module>.lora_A.weight`, LoraConfig dict) of an audiolora LoRA adapter folder."""
    folder = Path(adapter_dir)
    config_file = folder / "adapter_config.json"
    if not config_file.is_file():
        raise AudioloraError(f"{folder}: no adapter_config.json (not an adapter folder)")
    config = json.loads(config_file.read_text())
    if config.get("peft_type") != "LORA":
        raise AudioloraError(
            f"{folder}: a {config.get('peft_type')} adapter; the diffusers LoRA layout holds LoRA only "
            "(export LoKr with audiolora.adapters.export_lycoris)"
        )
    tensors = load_file(str(folder / "adapter_model.safetensors"))
    state = {k.removeprefix(PEFT_PREFIX): v for k, v in tensors.items() if ".lora_" in k}
    if len(state) != len(tensors):
        raise AudioloraError(
            f"{folder}: the adapter also trains full tensors, which the diffusers LoRA layout cannot hold"
        )
    keep = (
        "r",
        "lora_alpha",
        "target_modules",
        "rank_pattern",
        "alpha_pattern",
        "use_rslora",
        "lora_dropout",
        "init_lora_weights",
        "bias",
    )
    return state, {k: config[k] for k in keep if k in config}


def export_diffusers_lora(adapter_dir: str | Path, out_dir: str | Path) -> Path:
    """`pytorch_lora_weights.safetensors` (keys `transformer.<module>.lora_A.weight`, LoRA config
    in its metadata), which the stock pipeline's `load_lora_weights(out_dir)` loads."""
    from diffusers import AceStepPipeline

    state, config = peft_lora_state(adapter_dir)
    out = Path(out_dir)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    AceStepPipeline.save_lora_weights(
        tmp, transformer_lora_layers=state, transformer_lora_adapter_metadata=config
    )
    if out.exists():
        shutil.rmtree(out)
    tmp.replace(out)
    return out / "pytorch_lora_weights.safetensors"


def merge_to_folder(model: str, adapters: list[tuple[str, float]], out_dir: str | Path) -> Path:
    """A complete diffusers pipeline folder whose DiT has the adapters merged in (no adapter layers)."""
    from ...adapters import merge_adapter
    from .bases import (
        SUPPORTED,
        TRANSFORMERS_MODELS,
        checkpoint_variant,
        pipeline_class_name,
        resolve_location,
    )
    from .inference import attach_adapters

    kind = SUPPORTED[pipeline_class_name(resolve_location(model))]
    if kind in TRANSFORMERS_MODELS:
        raise AudioloraError(
            f"{model}: merge writes diffusers pipeline folders; a {kind} model is not one (load its "
            "adapter at generate time with --adapter, or merge with peft's merge_and_unload)"
        )
    pipe = load_pipeline(model)
    attach_adapters(pipe, adapters, checkpoint_variant(pipe))
    pipe.transformer = merge_adapter(pipe.transformer, unload=True)
    out = Path(out_dir)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    pipe.save_pretrained(tmp)
    if out.exists():
        shutil.rmtree(out)
    tmp.replace(out)
    return out
