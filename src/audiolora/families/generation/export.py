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


# diffusers' ACE-Step module names -> the original checkpoint's, which ComfyUI's ACE-Step 1.5 model
# uses under `diffusion_model.decoder.` (comfy/ldm/ace/ace_step15.py): the diffusers port renamed
# the attention projections and wrapped the patch convolutions.
COMFY_RENAMES = (
    (".to_q.", ".q_proj."),
    (".to_k.", ".k_proj."),
    (".to_v.", ".v_proj."),
    (".to_out.0.", ".o_proj."),
)
COMFY_PREFIX = "diffusion_model.decoder."
COMFY_CONVS = {"proj_in_conv.": "proj_in.1.", "proj_out_conv.": "proj_out.1."}


def comfy_module_name(module: str) -> str:
    """The original / ComfyUI name of a diffusers AceStepTransformer1DModel module."""
    name = module + "."
    for old, new in COMFY_CONVS.items():
        if name.startswith(old):
            name = new + name[len(old) :]
    for old, new in COMFY_RENAMES:
        name = name.replace(old, new)
    return name[:-1]


def export_comfyui_lora(adapter_dir: str | Path, out_file: str | Path) -> Path:
    """One safetensors file in ComfyUI's LoRA key layout for ACE-Step 1.5:
    `diffusion_model.decoder.<module>.lora_up.weight` / `.lora_down.weight` / `.alpha` (alpha carries
    the adapter's scaling: ComfyUI applies alpha / rank)."""
    import torch
    from safetensors.torch import save_file

    state, config = peft_lora_state(adapter_dir)
    rank_pattern = config.get("rank_pattern") or {}
    alpha_pattern = config.get("alpha_pattern") or {}
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        module, _, rest = key.partition(".lora_")
        target = COMFY_PREFIX + comfy_module_name(module)
        kind = "lora_down" if rest.startswith("A") else "lora_up"
        out[f"{target}.{kind}.weight"] = tensor.contiguous()
        if kind == "lora_down":
            rank = int(rank_pattern.get("^" + _escape(module), config["r"]))
            alpha = float(alpha_pattern.get("^" + _escape(module), config["lora_alpha"]))
            if config.get("use_rslora"):
                alpha = alpha * rank / rank**0.5  # ComfyUI scales by alpha / rank
            out[f"{target}.alpha"] = torch.tensor(alpha)
    path = Path(out_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(out, str(tmp), metadata={"format": "pt", "audiolora": "ace-step-1.5 comfyui lora"})
    tmp.replace(path)
    return path


def _escape(name: str) -> str:
    import re

    return re.escape(name)


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
