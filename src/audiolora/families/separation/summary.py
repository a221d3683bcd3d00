"""The closing lines of a separation run: where its stems, TensorBoard logs and adapter are, and the
command that separates a new file with the adapter."""

from __future__ import annotations

import shlex
from pathlib import Path


def write_listening_stems(adapter_dir: Path, test_root: Path, out_root: Path) -> Path | None:
    """Separate the first test track's mixture with the adapter into `out_root/<track>/<stem>.wav`.

    Returns that folder, or None when the split has no `mixture.wav` to separate.
    """
    from .model import load_adapted
    from .separate import separate_file

    mixtures = [t / "mixture.wav" for t in sorted(test_root.iterdir()) if t.is_dir()]
    mixtures = [m for m in mixtures if m.is_file()]
    if not mixtures:
        return None
    model, _ = load_adapted(adapter_dir)
    out_dir = out_root / mixtures[0].parent.name
    separate_file(model, mixtures[0], out_dir, progress=False)
    return out_dir


def summary_lines(run_dir: Path, stems_dir: Path | None = None) -> list[str]:
    """Plain-text lines: the stems to listen to, TensorBoard, the adapter, the separate command."""
    run_dir = Path(run_dir)
    final = run_dir / "final"
    lines = []
    if stems_dir is not None:
        lines.append(f"stems        {stems_dir}/  (a test track separated by the adapter)")
    lines += [
        f"tensorboard  {run_dir / 'tensorboard'}/  (tensorboard --logdir {shlex.quote(str(run_dir / 'tensorboard'))})",
        f"adapter      {final}/",
        "separate a new file (stems go to separated/<file name>/<stem>.wav):",
        f"  audiolora separate my_track.wav --adapter {shlex.quote(str(final))} --out separated",
    ]
    return lines


def print_summary(run_dir: Path, stems_dir: Path | None = None) -> None:
    """Print `summary_lines` unwrapped (a command cut at 80 columns in a log cannot be pasted)."""
    from ...console import console, settings

    if settings.quiet:
        return
    for line in summary_lines(run_dir, stems_dir):
        console.print(line, soft_wrap=True, markup=False)
