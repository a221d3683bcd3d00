"""Convert Basic Pitch's released ONNX graph (`basic_pitch/saved_models/icassp_2022/nmp.onnx`,
basic-pitch 0.4.0) into a safetensors state dict for `BasicPitch`.

The constants are read from the graph's initializers, located by the op that uses them (not by
auto-generated names), so the mapping is checked rather than assumed:

    python -m audiolora.families.transcription.onnx_import nmp.onnx nmp.safetensors
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from ...errors import AudioloraError

# learned convolutions, identified by their weight shape [out, in, kh, kw]
_HEAD_SHAPES = {
    (8, 8, 3, 39): "contour_conv",
    (1, 8, 5, 5): "contour_out",
    (32, 1, 7, 7): "note_conv",
    (1, 32, 7, 3): "note_out",
    (32, 8, 5, 5): "onset_conv",
    (1, 33, 3, 3): "onset_out",
}


def onnx_to_state_dict(onnx_path: str | Path) -> dict[str, torch.Tensor]:
    """Read nmp.onnx and return the `BasicPitch` state dict."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise AudioloraError(
            "converting ONNX weights needs the `onnx` package (pip install onnx)"
        ) from None
    try:
        graph = onnx.load(str(onnx_path)).graph
    except Exception as exc:
        raise AudioloraError(f"{onnx_path}: cannot read as ONNX ({exc})") from None
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    state: dict[str, np.ndarray] = {}
    for node in graph.node:
        if node.op_type == "Conv":
            weight = inits.get(node.input[1])
            bias = inits.get(node.input[2]) if len(node.input) > 2 else None
            if weight is None:
                continue
            shape = tuple(weight.shape)
            if shape in _HEAD_SHAPES:
                name = _HEAD_SHAPES[shape]
                state[f"{name}.weight"] = weight
                state[f"{name}.bias"] = bias
            elif shape == (36, 1, 1, 256):
                # the imaginary kernel's conv output is negated (nnAudio's get_cqt_complex)
                negated = any(c.op_type == "Neg" for c in consumers.get(node.output[0], []))
                key = "cqt.kernel_imag" if negated else "cqt.kernel_real"
                state[key] = weight[:, :, 0, :]
                if bias is not None and np.abs(bias).max() != 0:
                    raise AudioloraError(f"{onnx_path}: unexpected non-zero CQT bias")
            elif shape == (1, 1, 1, 256):
                state["cqt.lowpass"] = weight[:, :, 0, :]
        elif node.op_type in ("Mul", "Add") and "batch_normalization/" in node.name:
            const = [inits[i] for i in node.input if i in inits]
            if const and const[0].size == 1:
                key = "cqt_norm_scale" if node.op_type == "Mul" else "cqt_norm_shift"
                state[key] = const[0].reshape(1)
        elif node.op_type == "Mul":
            const = [inits[i] for i in node.input if i in inits]
            if const and const[0].shape == (309, 1, 1):
                state["cqt.bin_scale"] = const[0].reshape(309)

    from .model import BasicPitch

    expected = set(BasicPitch().state_dict())
    missing = expected - set(state)
    if missing:
        raise AudioloraError(
            f"{onnx_path}: not the Basic Pitch ICASSP 2022 graph (missing {sorted(missing)})"
        )
    return {k: torch.from_numpy(np.array(v, dtype=np.float32, copy=True)) for k, v in state.items()}


def convert(onnx_path: str | Path, out: str | Path) -> Path:
    """Write the converted weights to `out` (safetensors, atomically)."""
    from safetensors.torch import save_file

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    state = onnx_to_state_dict(onnx_path)
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".tmp")
    os.close(fd)
    try:
        save_file(
            state, tmp, metadata={"source": "basic-pitch 0.4.0 nmp.onnx", "license": "Apache-2.0"}
        )
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


def find_onnx() -> Path | None:
    """nmp.onnx of an installed basic-pitch package (installed with --no-deps), if any."""
    import importlib.util

    spec = importlib.util.find_spec("basic_pitch")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "saved_models/icassp_2022/nmp.onnx"
    return path if path.is_file() else None


if __name__ == "__main__":  # pragma: no cover
    if len(sys.argv) != 3:
        sys.exit(
            "usage: python -m audiolora.families.transcription.onnx_import NMP.onnx OUT.safetensors"
        )
    print(convert(sys.argv[1], sys.argv[2]))
