"""The Train tab's logic: form values -> config overrides and the equivalent CLI line; a training
subprocess (`python -m audiolora train ...`) started, stopped with SIGINT (the trainer saves a
checkpoint and exits 130) and resumed; progress read back from the run folder's train.log."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

# Options the form edits: dotted config key -> label.
FORM_KEYS = {
    "model.name": "base model",
    "data.root": "data root",
    "adapter.kind": "adapter kind",
    "adapter.rank": "adapter rank",
    "train.lr": "learning rate",
    "train.max_steps": "max steps",
    "train.batch_size": "batch size",
}
CONSOLE_LOG = "console.log"
STEP_RE = re.compile(r"^(\S+ \S+) step (\d+) epoch (\d+) loss (\S+) lr (\S+)")
EVAL_RE = re.compile(r"^\S+ \S+ eval step (\d+): (.*?)(?:, \S+ MA .*)?$")
PLAN_STEPS_RE = re.compile(r"plan steps: (\d+)")


def config_files(root: str | os.PathLike = "configs") -> list[str]:
    """Run configs under `root` (presets excluded), as paths relative to the working folder."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(str(p) for p in root.rglob("*.yaml") if "presets" not in p.parts)


def preset_names(root: str | os.PathLike = "configs/presets") -> list[str]:
    root = Path(root)
    return sorted(p.stem for p in root.glob("*.yaml")) if root.is_dir() else []


def form_values(config) -> dict[str, object]:
    """The form's keys read from a resolved config."""
    out = {}
    for key in FORM_KEYS:
        obj = config
        for part in key.split("."):
            obj = getattr(obj, part)
        out[key] = obj
    return out


def overrides_for(
    config_path: str, form: dict, preset: str | None = None, extra: str = ""
) -> list[str]:
    """`key=value` overrides for the form values that differ from the config, plus `extra` ones."""
    from ..config import load_config

    current = form_values(load_config(config_path, []))
    out = [f"preset={preset}"] if preset else []
    for key, value in form.items():
        if value in (None, ""):
            continue
        if isinstance(value, float) and value.is_integer() and isinstance(current.get(key), int):
            value = int(value)
        if str(value) != str(current.get(key)):
            out.append(f"{key}={value}")
    out += shlex.split(extra or "")
    return out


def train_args(
    config_path: str, overrides: list[str], run_name: str, resume: bool = False
) -> list[str]:
    """The arguments after `audiolora`."""
    args = ["train", config_path, *overrides, "--run-name", run_name]
    return [*args, "--resume"] if resume else args


def cli_line(args: list[str]) -> str:
    return shlex.join(["audiolora", *args])


def run_dir_for(config_path: str, overrides: list[str], run_name: str) -> Path:
    """Where the trainer will write: run.output_dir/run_name of the resolved config."""
    from ..config import load_config

    return Path(load_config(config_path, overrides).run.output_dir) / run_name


@dataclass
class TrainingProcess:
    """One `audiolora train` subprocess; its console output goes to <run>/console.log."""

    args: list[str]
    run_dir: Path
    proc: subprocess.Popen | None = None
    started: float = field(default_factory=time.time)

    def start(self) -> TrainingProcess:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.run_dir / CONSOLE_LOG, "a")  # noqa: SIM115 (the child holds it)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "audiolora", "--quiet", *self.args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # a Ctrl-C in the UI's terminal does not reach the run
        )
        log.close()
        self.started = time.time()
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def stop(self, timeout: float = 120.0) -> int | None:
        """SIGINT (checkpoint, exit 130); SIGKILL only if it has not exited after `timeout`."""
        if not self.running:
            return self.returncode
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def memory_gb(self) -> float | None:
        """Resident memory of the training process and its children now."""
        if not self.running:
            return None
        import psutil

        try:
            p = psutil.Process(self.proc.pid)
            procs = [p, *p.children(recursive=True)]
            return sum(q.memory_info().rss for q in procs) / 1024**3
        except psutil.Error:
            return None


@dataclass
class Progress:
    """What train.log says so far."""

    total: int | None = None
    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    evals: list[dict] = field(default_factory=list)
    last_line: str = ""

    @property
    def step(self) -> int:
        return self.steps[-1] if self.steps else 0

    def eta_seconds(self) -> float | None:
        """Remaining time from the mean step time between the first and last logged step."""
        if self.total is None or len(self.steps) < 2 or self.steps[-1] == self.steps[0]:
            return None
        per_step = (self.times[-1] - self.times[0]) / (self.steps[-1] - self.steps[0])
        return max(0.0, per_step * (self.total - self.steps[-1]))

    def status(self) -> str:
        if not self.steps:
            return "waiting for the first step"
        text = f"step {self.step}" + (f" / {self.total}" if self.total else "")
        text += f", loss {self.losses[-1]:.4g}"
        eta = self.eta_seconds()
        if eta is not None:
            text += f", ETA {int(eta // 60)}:{int(eta % 60):02d}"
        return text


def read_progress(run_dir: str | os.PathLike) -> Progress:
    """Parse <run>/train.log: the planned total, each logged step's loss, the evaluations."""
    path = Path(run_dir) / "train.log"
    progress = Progress()
    if not path.is_file():
        return progress
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if m := PLAN_STEPS_RE.search(line):
            progress.total = int(m.group(1))
        elif m := STEP_RE.match(line):
            progress.steps.append(int(m.group(2)))
            progress.losses.append(float(m.group(4)))
            progress.times.append(time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")))
        elif m := EVAL_RE.match(line):
            record: dict[str, object] = {"step": int(m.group(1))}
            for part in m.group(2).split(", "):
                key, _, value = part.rpartition(" ")
                try:
                    record[key] = float(value)
                except ValueError:
                    pass
            progress.evals.append(record)
        if line.strip():
            progress.last_line = line
    return progress


def cuda_memory_gb(run_dir: str | os.PathLike) -> float | None:
    """The latest `memory/cuda_peak_gb` the trainer logged to TensorBoard, if any."""
    folder = Path(run_dir) / "tensorboard"
    if not folder.is_dir():
        return None
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    except ImportError:
        return None
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    if "memory/cuda_peak_gb" not in acc.Tags().get("scalars", []):
        return None
    return acc.Scalars("memory/cuda_peak_gb")[-1].value


def latest_samples(run_dir: str | os.PathLike, count: int = 4) -> list[Path]:
    """The newest audio files the run wrote under samples/ (generation runs)."""
    from ..data.layout import AUDIO_SUFFIXES

    folder = Path(run_dir) / "samples"
    if not folder.is_dir():
        return []
    found = [p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES]
    return sorted(found, key=lambda p: p.stat().st_mtime)[-count:]


def checkpoints(run_dir: str | os.PathLike) -> list[str]:
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    return sorted((p.name for p in folder.glob("step_*")), key=lambda n: int(n.split("_")[1]))
