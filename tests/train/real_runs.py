"""Helpers for tests that drive `python -m audiolora` on the real families: small rendered data,
training subprocesses (plain, killed with SIGKILL, several processes) and a step-by-step comparison
of two runs' checkpoints that names the first step and tensor that differ."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

REPO = Path(__file__).resolve().parents[2]


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("AUDIOLORA_FAMILY_CLASS", None)  # the real family, not the test one
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", **extra)
    return env


def render(recipe: str, out: Path, *, tracks: int, seconds: float, seed: int) -> Path:
    """A small rendered data set: `tracks` tracks split 3/1/1-ish into train, valid and test."""
    cmd = [sys.executable, "-m", "audiolora", "--quiet", "data", "render", "--recipe", recipe,
           "--tracks", str(tracks), "--seconds", str(seconds), "--samplerate", "22050",
           "--seed", str(seed), "--splits", "0.6,0.2,0.2", "--out", str(out)]  # fmt: skip
    done = subprocess.run(cmd, cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def train_cmd(config: str, name: str, overrides: list[str], *extra: str) -> list[str]:
    return [sys.executable, "-m", "audiolora", "--quiet", "train", str(REPO / config),
            *overrides, "--run-name", name, *extra]  # fmt: skip


def train(config: str, name: str, overrides: list[str], *extra: str, env=None):
    cmd = train_cmd(config, name, overrides, *extra)
    done = subprocess.run(
        cmd, cwd=REPO, env=env or cli_env(), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{' '.join(cmd[4:])}\n{done.stderr[-3000:]}"
    return done


def train_and_kill(
    config: str, name: str, overrides: list[str], run_dir: Path, after_step: int
) -> list[int]:
    """Start a training subprocess and SIGKILL it as soon as checkpoint `after_step` is on disk
    (the process is then inside a later step). Returns the steps of the checkpoints left."""
    cmd = train_cmd(config, name, overrides)
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    target = run_dir / "checkpoints" / f"step_{after_step}"
    deadline = time.monotonic() + 600
    try:
        while not target.is_dir():
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace")[-3000:]
                pytest.fail(
                    f"training ended (exit {proc.returncode}) before step_{after_step}: {err}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"no checkpoint step_{after_step} after 600 s")
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    return checkpoint_steps(run_dir)


def checkpoint_steps(run_dir: Path) -> list[int]:
    folder = run_dir / "checkpoints"
    return sorted(
        int(p.name[5:]) for p in folder.glob("step_*") if (p / "trainer_state.json").is_file()
    )


def start_from(reference: Path, run_dir: Path, step: int) -> Path:
    """A run folder holding only `reference`'s checkpoint `step` (what a resume reads)."""
    shutil.copytree(
        reference / "checkpoints" / f"step_{step}", run_dir / "checkpoints" / f"step_{step}"
    )
    return run_dir


def first_difference(reference: Path, other: Path, steps: list[int]) -> str | None:
    """None when `other`'s checkpoints at `steps` hold exactly `reference`'s trainable tensors,
    else a line naming the first step and the first tensor (in the file's order) that differ."""
    for step in steps:
        rel = f"checkpoints/step_{step}/trainable.safetensors"
        if not (other / rel).is_file():
            return f"step {step}: the resumed run has no checkpoint ({rel})"
        want, got = load_file(reference / rel), load_file(other / rel)
        if want.keys() != got.keys():
            return f"step {step}: different tensors ({sorted(want.keys() ^ got.keys())[:3]})"
        differ = [k for k in want if not torch.equal(want[k], got[k])]
        if differ:
            k = differ[0]
            gap = (want[k] - got[k]).abs().max().item()
            return (
                f"step {step} is the first that differs: tensor {k} (max |diff| {gap:.3g}); "
                f"{len(differ)} of {len(want)} trainable tensors differ at that step"
            )
    return None


def assert_same_run(reference: Path, other: Path, steps: list[int]) -> None:
    """`other` (resumed) equals `reference` (uninterrupted) bit for bit: every checkpoint in
    `steps`, the final adapter, the logged losses, learning rates, grad norms and evaluations."""
    message = first_difference(reference, other, steps)
    if message:
        pytest.fail(f"resume is not exact: {message}", pytrace=False)
    final = "final/adapter_model.safetensors"
    want, got = load_file(reference / final), load_file(other / final)
    assert want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want), final
    ma = json.loads((reference / "metrics.json").read_text())
    mb = json.loads((other / "metrics.json").read_text())
    for a, b in zip(ma["history"], mb["history"], strict=True):
        assert (a["step"], a["loss"], a["lr"], a["grad_norm"]) == (
            b["step"], b["loss"], b["lr"], b["grad_norm"]
        ), f"logged step {a['step']} differs"  # fmt: skip
    assert ma["evals"] == mb["evals"]
