"""Several processes on the real separation family (configs/separation/techhouse_5stem.yaml), with
the launch commands README gives, on CPU (gloo) as they would run on GPUs (NCCL):

- one machine: `accelerate launch --multi_gpu --num_machines 1 --num_processes 2 ... -m audiolora
  train ...`;
- two machines, emulated here by two launchers on this one: `accelerate launch --multi_gpu
  --num_machines 2 --machine_rank R --main_process_ip IP --main_process_port PORT --num_processes 2
  ...`.

Each run finishes; only the main process writes into the run folder (every write of every process is
recorded by an audit hook, tests/train/write_audit/sitecustomize.py); and one step on fixed data
(augmentation off: a remix across the batch cannot be the same on half batches) gives the same
gradient and adapter update as one process on the concatenated batch, within float32 rounding.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from real_runs import REPO, cli_env, render, train
from safetensors.torch import load_file

CONFIG = "configs/separation/techhouse_5stem.yaml"
LR = 1e-3  # the config's train.lr
AUDIT = Path(__file__).resolve().parent / "write_audit"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def overrides(data: Path, out: Path, batch: int, steps: int) -> list[str]:
    # 3 train tracks x 4 segments of 0.5 s = 12 items
    return [
        f"data.root={data}", f"run.output_dir={out}", "data.segment=0.5",
        f"train.batch_size={batch}", f"train.max_steps={steps}", "train.checkpoint_every=1",
        "train.eval_every=100", "train.log_every=1", "train.loss_curve=false",
        "data.augment.enabled=false",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return render(
        "techhouse5", tmp_path_factory.mktemp("data") / "th", tracks=5, seconds=2, seed=11
    )


@pytest.fixture(scope="module")
def single(data, tmp_path_factory):
    """One process, batch 4: the concatenation of two processes' batches of 2."""
    out = tmp_path_factory.mktemp("single")
    train(CONFIG, "single", overrides(data, out, batch=4, steps=2))
    return out / "single"


def launch(launcher: list[str], name: str, args: list[str], out: Path, audit: Path):
    cmd = [sys.executable, "-m", "accelerate.commands.launch", *launcher, "-m", "audiolora",
           "--quiet", "train", str(REPO / CONFIG), *args, "--run-name", name]  # fmt: skip
    env = cli_env(
        PYTHONPATH=str(AUDIT), AUDIOLORA_AUDIT_ROOT=str(out), AUDIOLORA_AUDIT_OUT=str(audit)
    )
    return subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def finish(procs) -> None:
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    for p, text in zip(procs, outputs, strict=True):
        assert p.returncode == 0, text[-3000:]


def writers(audit: Path) -> dict[str, list[str]]:
    """{process: the writes it made under the watched folder}, for every process that ran."""
    return {f.stem: f.read_text().splitlines() for f in sorted(audit.glob("rank-*.txt"))}


def check_one_writer(audit: Path, run: Path, processes: int) -> None:
    seen = writers(audit)
    ranks = {k for k in seen if not k.startswith("rank-launcher")}
    assert len(ranks) == processes, sorted(seen)
    wrote = {k: v for k, v in seen.items() if v}
    assert list(wrote) and all(k.startswith("rank-0-") for k in wrote), {
        k: v[:3] for k, v in wrote.items()
    }
    assert any("checkpoints" in line for lines in wrote.values() for line in lines)
    log = (run / "train.log").read_text().splitlines()
    bodies = [line[20:] for line in log]  # without the timestamp
    assert len(bodies) == len(set(bodies)), "train.log has repeated lines (two writers?)"
    assert sum("plan batch: 2 x accum 1 x 2 process(es) = 4" in b for b in bodies) == 1


def check_same_step(run: Path, single: Path, step: int = 1) -> None:
    """Same gradient (Adam's first moment) and update as one process on the whole batch."""
    rel = f"checkpoints/step_{step}"
    got, want = (
        load_file(run / rel / "trainable.safetensors"),
        load_file(single / rel / "trainable.safetensors"),
    )
    assert got.keys() == want.keys()
    worst = max((got[k] - want[k]).abs().max().item() for k in want)
    assert worst <= 1e-2 * LR, f"adapter update differs by {worst:.3g} (lr {LR:g})"
    m_got = torch.load(run / rel / "optimizer.pt", weights_only=True)["optimizer"]["state"]
    m_want = torch.load(single / rel / "optimizer.pt", weights_only=True)["optimizer"]["state"]
    for k, state in m_want.items():
        a, b = m_got[k]["exp_avg"], state["exp_avg"]
        assert (a - b).abs().max() <= 1e-4 * b.abs().max() + 1e-12, f"gradient of tensor {k}"
    ha = json.loads((run / "metrics.json").read_text())
    hb = json.loads((single / "metrics.json").read_text())
    assert ha["status"] == "completed" and ha["samples"] == hb["samples"] * ha["step"] // hb["step"]
    for a, b in zip(ha["history"], hb["history"], strict=False):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
        assert a["grad_norm"] == pytest.approx(b["grad_norm"], rel=1e-4)


@pytest.mark.slow
def test_two_processes_on_one_machine(data, single, tmp_path):
    out, audit = tmp_path / "out", tmp_path / "audit"
    launcher = ["--multi_gpu", "--num_machines", "1", "--num_processes", "2",
                "--main_process_port", str(_port()), "--mixed_precision", "no",
                "--dynamo_backend", "no"]  # fmt: skip
    finish([launch(launcher, "ddp", overrides(data, out, batch=2, steps=2), out, audit)])
    run = out / "ddp"
    assert (run / "final" / "adapter_model.safetensors").is_file()
    check_one_writer(audit, run, processes=2)
    check_same_step(run, single, step=1)


@pytest.mark.slow
def test_two_machines_of_one_process(data, single, tmp_path):
    out, audit = tmp_path / "out", tmp_path / "audit"
    port = _port()
    procs = []
    for rank in (1, 0):
        launcher = ["--multi_gpu", "--num_machines", "2", "--machine_rank", str(rank),
                    "--main_process_ip", "127.0.0.1", "--main_process_port", str(port),
                    "--num_processes", "2", "--mixed_precision", "no",
                    "--dynamo_backend", "no"]  # fmt: skip
        procs.append(launch(launcher, "nodes", overrides(data, out, batch=2, steps=1), out, audit))
    finish(procs)
    run = out / "nodes"
    check_one_writer(audit, run, processes=2)
    check_same_step(run, single, step=1)


def test_launch_accelerate_does_not_join_is_one_line(monkeypatch, tmp_path):
    """WORLD_SIZE=2 but Accelerate sees one process: refused before anything is written."""
    import accelerate

    from audiolora.config import load_config
    from audiolora.errors import AudioloraError
    from audiolora.train.trainer import Trainer

    class Alone:
        num_processes, process_index, is_main_process = 1, 0, True

        def __init__(self, **kwargs):
            pass

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(accelerate, "Accelerator", Alone)
    config = load_config(None, [f"run.output_dir={tmp_path}", "run.name=x"])
    with pytest.raises(AudioloraError, match="Accelerate sees 1") as info:
        Trainer(config, family=None).setup()
    assert "\n" not in str(info.value) and not (tmp_path / "x").exists()
