"""Base vs adapted evaluation on a run's test split: per stem MDX SDR and MUSDB (BSSEval v4) SDR.

The base row of a linked stem is the base model's output for the stem it is linked to; of a new stem
started with `new:copy:<stem>` the base's output for that stem; of any other new stem silence (an
all-zero estimate, MDX SDR 0 dB by definition). Aggregation: MDX SDR is the mean over tracks, MUSDB
SDR the median over tracks of each track's median over 1 s frames.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from ...config import RunConfig
from ...errors import AudioloraError, DataError
from ...hub import load_model
from .linkage import Link
from .loading import single_model


def base_row_label(link: Link) -> str:
    if not link.is_new:
        return f"base {link.base}"
    if link.copy_from:
        return f"base {link.copy_from}"
    return "silence"


def base_estimate(base_est: torch.Tensor, base_sources: list[str], link: Link) -> torch.Tensor:
    stem = link.base if not link.is_new else link.copy_from
    if stem is None:
        return torch.zeros_like(base_est[0])
    return base_est[base_sources.index(stem)]


def _nanmedian(values: list[float]) -> float | None:
    arr = np.asarray([v for v in values if v is not None and not np.isnan(v)])
    return float(np.median(arr)) if arr.size else None


def _mean(values: list[float]) -> float | None:
    arr = np.asarray([v for v in values if v is not None and not np.isnan(v)])
    return float(arr.mean()) if arr.size else None


def evaluate_models(
    model: nn.Module,
    base: nn.Module,
    links: list[Link],
    test_root: Path,
    *,
    shifts: int = 0,
    overlap: float = 0.25,
    max_tracks: int | None = None,
) -> dict[str, Any]:
    """Per-stem SDR (both conventions) of `model` and of `base` on every track under `test_root`."""
    from ...console import track
    from ...data.stems import StemDataset
    from ...metrics.sdr import sdr_bsseval_v4, sdr_mdx
    from .separate import separate_tensor

    sources = [link.stem for link in links]
    if not test_root.is_dir():
        raise DataError(f"{test_root}: no test split to evaluate on (set eval.split or render one)")
    data = StemDataset(
        test_root, sources, segment=1.0, samplerate=model.samplerate, channels=model.audio_channels
    )
    count = len(data.tracks) if max_tracks is None else min(max_tracks, len(data.tracks))
    per = {
        s: {"adapted": {"mdx": [], "musdb": []}, "base": {"mdx": [], "musdb": []}} for s in sources
    }
    sr = int(model.samplerate)
    torch.manual_seed(0)  # shifts draw random offsets: same ones for every evaluation
    for i in track(range(count), "evaluate base vs adapted", total=count):
        stems = data.load_track(i)
        mix = stems.sum(0)
        est = separate_tensor(model, mix, shifts=shifts, overlap=overlap)
        base_out = separate_tensor(base, mix, shifts=shifts, overlap=overlap)
        base_est = torch.stack(
            [base_estimate(base_out, list(base.sources), link) for link in links]
        )
        for which, guess in (("adapted", est), ("base", base_est)):
            mdx = sdr_mdx(stems, guess)
            musdb = sdr_bsseval_v4(stems, guess, sr)
            for k, s in enumerate(sources):
                per[s][which]["mdx"].append(float(mdx[k]))
                per[s][which]["musdb"].append(float(musdb[k]))
    table = {}
    for link in links:
        s = link.stem
        row = {"base_row": base_row_label(link)}
        for which in ("base", "adapted"):
            row[which] = {
                "sdr_mdx": _mean(per[s][which]["mdx"]),
                "sdr_musdb": _nanmedian(per[s][which]["musdb"]),
            }
        a, b = row["adapted"]["sdr_mdx"], row["base"]["sdr_mdx"]
        row["gain_mdx"] = None if a is None or b is None else a - b
        table[s] = row
    return {
        "split": test_root.name,
        "tracks": count,
        "shifts": shifts,
        "overlap": overlap,
        "samplerate": sr,
        "stems": table,
        "per_track": per,
    }


def print_table(report: dict[str, Any]) -> None:
    from rich.table import Table

    from ...console import console, settings

    if settings.quiet:
        return
    table = Table(
        title=f"SDR (dB) on {report['split']} ({report['tracks']} tracks): base vs adapted"
    )
    for col in (
        "stem",
        "base row",
        "base MDX",
        "adapted MDX",
        "gain",
        "base MUSDB",
        "adapted MUSDB",
    ):
        table.add_column(col, justify="left" if col in ("stem", "base row") else "right")

    def fmt(v):
        return "-" if v is None else f"{v:.2f}"

    for stem, row in report["stems"].items():
        table.add_row(
            stem,
            row["base_row"],
            fmt(row["base"]["sdr_mdx"]),
            fmt(row["adapted"]["sdr_mdx"]),
            ("+" if (row["gain_mdx"] or 0) >= 0 else "") + fmt(row["gain_mdx"]),
            fmt(row["base"]["sdr_musdb"]),
            fmt(row["adapted"]["sdr_musdb"]),
        )
    console.print(table)


def plot_bars(report: dict[str, Any], path: Path) -> Path:
    """A PNG with base vs adapted MDX SDR bars per stem (written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stems = list(report["stems"])
    base = [report["stems"][s]["base"]["sdr_mdx"] or 0.0 for s in stems]
    adapted = [report["stems"][s]["adapted"]["sdr_mdx"] or 0.0 for s in stems]
    x = np.arange(len(stems))
    fig, ax = plt.subplots(figsize=(1.6 * len(stems) + 2, 3.5))
    ax.bar(x - 0.2, base, 0.4, label="base")
    ax.bar(x + 0.2, adapted, 0.4, label="adapted")
    ax.set_xticks(x, stems)
    ax.set_ylabel("SDR (dB, MDX)")
    ax.axhline(0, color="black", linewidth=0.6)
    ax.legend()
    ax.set_title(f"{report['split']} split, {report['tracks']} tracks")
    fig.tight_layout()
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".png")
    os.close(fd)
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; a run folder is for sharing
    os.replace(tmp, path)
    return path


def evaluate_adapter(
    config: RunConfig, adapter_dir: Path, run_dir: Path | None = None, max_tracks: int | None = None
) -> dict[str, Any]:
    """Load base + adapter from `adapter_dir`, evaluate on the config's test split, print, plot."""
    from .model import load_adapted

    if not config.data.root:
        raise AudioloraError("data.root is not set in the run config; nothing to evaluate on")
    model, links = load_adapted(adapter_dir)
    base = single_model(load_model(config.model.name), config.model.name)
    report = evaluate_models(
        model,
        base,
        links,
        Path(config.data.root) / config.eval.split,
        shifts=config.eval.shifts,
        overlap=config.eval.overlap,
        max_tracks=max_tracks,
    )
    report["adapter"] = str(adapter_dir)
    print_table(report)
    if run_dir is not None:
        report["chart"] = str(plot_bars(report, run_dir / "sdr.png"))
    return report


def update_metrics_json(run_dir: Path, report: dict[str, Any]) -> Path:
    """Replace the `report` entry of the run's metrics.json (atomically)."""
    path = run_dir / "metrics.json"
    data = json.loads(path.read_text()) if path.is_file() else {}
    data["report"] = report
    fd, tmp = tempfile.mkstemp(dir=run_dir, suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return path


def evaluate_run_model(
    config: RunConfig, model: nn.Module, links: list[Link], run_dir: Path
) -> dict[str, Any]:
    """The trainer's final report: evaluate the saved final adapter (what `audiolora eval` re-runs)
    and separate the first test track into `run_dir/separated/` to listen to."""
    from .summary import write_listening_stems

    adapter_dir = run_dir / "final"
    if not adapter_dir.is_dir():
        return {}
    report = evaluate_adapter(config, adapter_dir, run_dir)
    stems_dir = write_listening_stems(
        adapter_dir, Path(config.data.root) / config.eval.split, run_dir / "separated"
    )
    if stems_dir is not None:
        report["listen"] = str(stems_dir)
    return report
