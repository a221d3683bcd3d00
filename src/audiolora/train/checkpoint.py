"""Training checkpoints `checkpoints/step_<N>/`, written atomically (temporary folder + rename).

A checkpoint holds every trainable tensor (`trainable.safetensors`), the optimizer, scheduler and
grad-scaler states (`optimizer.pt`, loaded with weights_only=True), all RNG states (`rng.pt`: the
main process's, and with several processes each one's under `per_rank`) and the loop position,
number of processes, best tracker and history (`trainer_state.json`). A crash mid-write leaves only a
`.tmp-*` folder that is never read, so the previous checkpoint stays intact.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file

from ..errors import AudioloraError

STEP_DIR = re.compile(r"^step_(\d+)$")
STATE_FILE = "trainer_state.json"


# --------------------------------------------------------------------------- RNG states


def capture_rng() -> dict[str, Any]:
    """Python, numpy, torch and CUDA RNG states, in a form torch.load(weights_only=True) accepts."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def rng_of_rank(saved: dict[str, Any], rank: int) -> dict[str, Any]:
    """Process `rank`'s RNG states from a checkpoint's `rng.pt`: a run of several processes saves
    each one's under `per_rank` (the top level is the main process's, as a one-process run saves)."""
    per_rank = saved.get("per_rank")
    if per_rank and rank < len(per_rank):
        return per_rank[rank]
    return {k: v for k, v in saved.items() if k != "per_rank"}


def restore_rng(state: dict[str, Any]) -> None:
    """Undo `capture_rng`."""
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# --------------------------------------------------------------------------- trainable tensors


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every tensor that requires grad, by parameter name, detached on CPU."""
    return {
        name: p.detach().to("cpu").contiguous()
        for name, p in model.named_parameters()
        if p.requires_grad
    }


def load_trainable_state(model: nn.Module, tensors: dict[str, torch.Tensor], source: Path) -> None:
    """Copy saved trainable tensors back into `model`; names must match exactly."""
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    missing = sorted(set(params) - set(tensors))
    extra = sorted(set(tensors) - set(params))
    if missing or extra:
        what = f"missing {missing[:3]}" if missing else f"unexpected {extra[:3]}"
        raise AudioloraError(
            f"{source}: checkpoint does not match the model's trainable tensors ({what}); "
            "resume with the same model and adapter config"
        )
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(tensors[name].to(device=p.device, dtype=p.dtype))


# --------------------------------------------------------------------------- folders


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def atomic_dir(final: Path, write) -> Path:
    """Run `write(tmp_dir)`, then move the folder to `final` in one rename (replacing an old one)."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".tmp-{final.name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        write(tmp)
        for f in [tmp, *tmp.rglob("*")]:
            if f.is_file():
                with open(f, "rb+") as fh:
                    os.fsync(fh.fileno())
            # safetensors and mkdtemp create owner-only files; a run folder is for sharing
            f.chmod(0o644 if f.is_file() else 0o755)
        old = None
        if final.exists():
            old = final.parent / f".old-{final.name}-{os.getpid()}"
            os.replace(final, old)
        try:
            os.replace(tmp, final)
        except BaseException:
            if old is not None:
                os.replace(old, final)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        _fsync_dir(final.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def save_checkpoint(
    folder: Path,
    tensors: dict[str, torch.Tensor],
    optim_states: dict[str, Any],
    rng: dict[str, Any],
    state: dict[str, Any],
) -> Path:
    """Write one checkpoint folder atomically."""

    def write(tmp: Path) -> None:
        save_file(tensors, str(tmp / "trainable.safetensors"))
        torch.save(optim_states, tmp / "optimizer.pt")
        torch.save(rng, tmp / "rng.pt")
        (tmp / STATE_FILE).write_text(json.dumps(state, indent=1))

    return atomic_dir(folder, write)


def load_checkpoint(folder: Path) -> dict[str, Any]:
    """Read a checkpoint folder: tensors, optimizer states, RNG and trainer state."""
    folder = Path(folder)
    if not (folder / STATE_FILE).is_file():
        raise AudioloraError(
            f"{folder}: not a training checkpoint (no {STATE_FILE}); give a checkpoints/step_<N> folder"
        )
    try:
        return {
            "tensors": load_file(str(folder / "trainable.safetensors")),
            "optim": torch.load(folder / "optimizer.pt", weights_only=True, map_location="cpu"),
            "rng": torch.load(folder / "rng.pt", weights_only=True),
            "state": json.loads((folder / STATE_FILE).read_text()),
        }
    except Exception as exc:  # safetensors, pickle and OS errors all mean the same to a user
        raise AudioloraError(
            f"{folder}: damaged checkpoint ({' '.join(str(exc).split())[:120]}); resume from an older one"
        ) from None


def list_checkpoints(checkpoints_dir: Path) -> list[Path]:
    """Complete checkpoint folders, oldest step first."""
    if not Path(checkpoints_dir).is_dir():
        return []
    found = []
    for p in Path(checkpoints_dir).iterdir():
        m = STEP_DIR.match(p.name)
        if m and (p / STATE_FILE).is_file():
            found.append((int(m.group(1)), p))
    return [p for _, p in sorted(found)]


def latest_checkpoint(checkpoints_dir: Path) -> Path | None:
    found = list_checkpoints(checkpoints_dir)
    return found[-1] if found else None


def prune_checkpoints(checkpoints_dir: Path, keep: int) -> None:
    """Delete all but the newest `keep` checkpoints."""
    for old in list_checkpoints(checkpoints_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
