"""Export: the base with the adapter (and new-stem slices) merged in, as a demucs-format safetensors
file (`demucs.hf.load_safetensors_model` and `audiolora separate --model FILE` both load it), and
int8 dynamic quantization for CPU deployment.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
import torch.nn as nn

from ...errors import AudioloraError
from .linkage import init_args
from .loading import encode_init_value


def merged_demucs_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The adapted model's weights under the base's own names (adapters and slices baked in)."""
    from ...adapters import merged_state_dict

    return {k: v.detach().float().contiguous().cpu() for k, v in merged_state_dict(model).items()}


def save_demucs_safetensors(
    state: dict[str, torch.Tensor],
    model: nn.Module,
    path: Path,
    extra: dict[str, str] | None = None,
) -> Path:
    """Write `state` with demucs's metadata (klass, args, kwargs as JSON), atomically."""
    from safetensors.torch import save_file

    klass, args, kwargs = init_args(model)
    kwargs = {**kwargs, "sources": list(model.sources)}
    if getattr(model, "segment", None) is not None and "segment" in kwargs:
        kwargs["segment"] = model.segment
    meta = {
        "klass": f"{klass.__module__}.{klass.__name__}",
        "args": json.dumps(encode_init_value(list(args))),
        "kwargs": json.dumps(encode_init_value(kwargs)),
        "producer": "audiolora",
        **(extra or {}),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(state, tmp, metadata=meta)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def export_merged_model(
    adapter_dir: Path, out: Path, *, base: str | None = None, quantize: str | None = None
) -> Path:
    """Merge the adapter at `adapter_dir` into its base and write one safetensors file at `out`.

    With `quantize="int8"` the file records it and loaders apply int8 dynamic quantization (a
    load-time transform: the stored weights stay float32, so demucs's loader reads the file too).
    """
    from .model import load_adapted

    if quantize not in (None, "int8"):
        raise AudioloraError(f"--quantize {quantize}: only int8 is supported")
    if out.suffix != ".safetensors":
        raise AudioloraError(
            f"{out}: the merged model is written as .safetensors; give a path ending in it"
        )
    model, _links = load_adapted(adapter_dir, base)
    state = merged_demucs_state(model)
    extra = {"audiolora_adapter": str(adapter_dir)}
    if quantize:
        extra["audiolora_quantize"] = quantize
    return save_demucs_safetensors(state, model, out, extra)
