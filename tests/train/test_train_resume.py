"""Exact resume: a real `python -m audiolora train` subprocess killed with SIGKILL mid-run and resumed
ends bit-identical (weights, logged losses, evaluations) to an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

CONFIG = """
run: {{output_dir: {out}, seed: 7}}
adapter: {{rank: 2, dropout: 0.2}}
train:
  lr: 3.0e-3
  full_lr: 1.0e-2
  batch_size: 2
  grad_accum: 2
  max_steps: 8
  eval_every: 2
  checkpoint_every: 3
  keep_checkpoints: 5
  log_every: 1
  final: last
  loss_curve: false
"""


def run_train(cfg: Path, name: str, *extra: str, kill_at_call: int | None = None):
    env = dict(os.environ)
    env.update(
        AUDIOLORA_FAMILY_CLASS="tiny_family:TinySeparationFamily",
        PYTHONPATH=os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]),
        OMP_NUM_THREADS="1",
    )
    env.pop("TINY_FAMILY_SIGKILL_AT_CALL", None)
    if kill_at_call is not None:
        env["TINY_FAMILY_SIGKILL_AT_CALL"] = str(kill_at_call)
    cmd = [
        sys.executable,
        "-m",
        "audiolora",
        "--quiet",
        "train",
        str(cfg),
        "--run-name",
        name,
        *extra,
    ]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_sigkill_then_resume_is_bit_identical(tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(CONFIG.format(out=tmp_path / "out"))
    full = run_train(cfg, "full")
    assert full.returncode == 0, full.stderr

    # 2 training_loss calls per step: call 11 is inside step 6, after checkpoint step_3 (mid-epoch:
    # 4 micro-batches per epoch) and before checkpoint step_6.
    killed = run_train(cfg, "killed", kill_at_call=11)
    assert killed.returncode == -signal.SIGKILL
    run = tmp_path / "out" / "killed"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_3"]
    assert not (run / "final").exists()
    state = json.loads((run / "checkpoints" / "step_3" / "trainer_state.json").read_text())
    assert (state["epoch"], state["position"]) == (1, 2)

    resumed = run_train(cfg, "killed", "--resume")
    assert resumed.returncode == 0, resumed.stderr

    a, b = tmp_path / "out" / "full", run
    for rel in ("final/adapter_model.safetensors", "checkpoints/step_8/trainable.safetensors"):
        wa, wb = load_file(a / rel), load_file(b / rel)
        assert wa.keys() == wb.keys()
        assert all(torch.equal(wa[k], wb[k]) for k in wa), rel
    ma = json.loads((a / "metrics.json").read_text())
    mb = json.loads((b / "metrics.json").read_text())
    assert [h["step"] for h in mb["history"]] == list(range(1, 9))
    assert [(h["loss"], h["lr"], h["grad_norm"]) for h in ma["history"]] == [
        (h["loss"], h["lr"], h["grad_norm"]) for h in mb["history"]
    ]
    assert ma["evals"] == mb["evals"]
    opt_a = torch.load(a / "checkpoints/step_8/optimizer.pt", weights_only=True)
    opt_b = torch.load(b / "checkpoints/step_8/optimizer.pt", weights_only=True)
    for k, st in opt_a["optimizer"]["state"].items():
        assert torch.equal(st["exp_avg"], opt_b["optimizer"]["state"][k]["exp_avg"])


@pytest.mark.slow
def test_cli_plan_and_run_folder(tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        CONFIG.format(out=tmp_path / "out")
        .replace("max_steps: 8", "max_steps: 2")
        .replace("loss_curve: false", "loss_curve: true")
    )
    env_run = run_train(cfg, "cli")
    assert env_run.returncode == 0, env_run.stderr
    run = tmp_path / "out" / "cli"
    for name in ("config.yaml", "train.log", "metrics.json", "loss_curve.png", "final", "best"):
        assert (run / name).exists(), name
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "train/lr", "train/grad_norm", "train/samples_per_s"} <= tags
    assert {"memory/rss_gb", "val/loss", "val/mse", "val/loss_ma"} <= tags
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2]
    assert (run / "loss_curve.png").read_bytes()[:4] == b"\x89PNG"
    log = (run / "train.log").read_text()
    assert "plan trainable" in log and "step 2 " in log and "completed" in log


@pytest.mark.slow
def test_two_processes_match_one_process_with_the_same_global_batch(tmp_path):
    """`torchrun`/`accelerate launch` with no code change: 2 CPU processes (gloo DDP) x batch 2 x
    accum 2 see the same samples per step as 1 process x batch 8, so the losses agree."""
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        CONFIG.format(out=tmp_path / "out")
        .replace("max_steps: 8", "max_steps: 2")
        .replace("dropout: 0.2", "dropout: 0.0")
    )
    single = run_train(cfg, "single", "train.batch_size=8", "train.grad_accum=1")
    assert single.returncode == 0, single.stderr
    env = dict(os.environ)
    env.update(
        AUDIOLORA_FAMILY_CLASS="tiny_family:TinySeparationFamily",
        PYTHONPATH=os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]),
        OMP_NUM_THREADS="1",
        ACCELERATE_USE_CPU="true",
    )
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "-m", "audiolora", "--quiet", "train", str(cfg), "--run-name", "ddp"]  # fmt: skip
    ddp = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert ddp.returncode == 0, ddp.stderr[-2000:]
    ma = json.loads((tmp_path / "out" / "single" / "metrics.json").read_text())
    mb = json.loads((tmp_path / "out" / "ddp" / "metrics.json").read_text())
    assert mb["samples"] == ma["samples"] == 16
    assert [h["loss"] for h in mb["history"]] == pytest.approx(
        [h["loss"] for h in ma["history"]], rel=1e-5
    )
    assert [h["grad_norm"] for h in mb["history"]] == pytest.approx(
        [h["grad_norm"] for h in ma["history"]], rel=1e-3
    )
