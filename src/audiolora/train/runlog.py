"""What a run leaves behind besides weights: train.log, TensorBoard scalars, metrics.json and the
loss-curve PNG."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON through a temporary file and os.replace."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1, default=float) + "\n")
    os.replace(tmp, path)


class RunLog:
    """train.log lines and TensorBoard scalars for one run folder (main process only)."""

    def __init__(self, run_dir: Path, resume_step: int | None = None, enabled: bool = True):
        self.run_dir = Path(run_dir)
        self.log_path = self.run_dir / "train.log"
        self.enabled = enabled
        self.writer = None
        self._log = None
        if not enabled:  # processes other than the main one write nothing
            return
        # Held open for the whole run (line-buffered), closed in close().
        self._log = open(self.log_path, "a", buffering=1)  # noqa: SIM115
        from torch.utils.tensorboard import SummaryWriter

        # purge_step drops events logged after the checkpoint a resumed run starts from.
        purge = resume_step + 1 if resume_step is not None else None
        self.writer = SummaryWriter(str(self.run_dir / "tensorboard"), purge_step=purge)

    def line(self, text: str) -> None:
        """Append a timestamped line to train.log."""
        if self._log is not None:
            self._log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n")

    def scalars(self, step: int, values: dict[str, float], prefix: str = "") -> None:
        if self.writer is None:
            return
        for key, value in values.items():
            if isinstance(value, int | float):
                self.writer.add_scalar(f"{prefix}{key}", float(value), step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.flush()
            self.writer.close()
            self.writer = None
        if self._log is not None and not self._log.closed:
            self._log.close()


def plot_loss_curve(
    history: list[dict], evals: list[dict], path: Path, metric: str = "loss"
) -> Path | None:
    """Training loss (and its moving average), validation metric and learning rate, as a PNG."""
    if not history:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [h["step"] for h in history]
    losses = [h["loss"] for h in history]
    window = max(1, len(losses) // 20)
    smooth = [
        sum(losses[max(0, i - window + 1) : i + 1]) / len(losses[max(0, i - window + 1) : i + 1])
        for i in range(len(losses))
    ]
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    ax.plot(steps, losses, color="tab:blue", alpha=0.3, linewidth=0.8, label="train loss")
    ax.plot(steps, smooth, color="tab:blue", linewidth=1.5, label=f"train loss (MA{window})")
    val = [(e["step"], e[metric]) for e in evals if metric in e]
    if val:
        ax.plot(*zip(*val, strict=True), "o-", color="tab:orange", label=f"validation {metric}")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    lr_ax = ax.twinx()
    lr_ax.plot(steps, [h["lr"] for h in history], color="tab:gray", linestyle="--", linewidth=1)
    lr_ax.set_ylabel("learning rate", color="tab:gray")
    ax.legend(loc="upper right")
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)
    return path
