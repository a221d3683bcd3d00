"""`audiolora eval | separate | export`: the separation family's commands (issue 6)."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from ..console import console, info
from ..errors import AudioloraError, UsageError


def _adapter_dir(path: str, which: str = "final") -> Path:
    """An adapter folder given directly or as a run folder (its `final/`, else `best/`)."""
    p = Path(path)
    if (p / "adapter_config.json").is_file() or (p / "audiolora.json").is_file():
        return p
    for name in (which, "final", "best"):
        if (p / name).is_dir():
            return p / name
    if not p.exists():
        raise AudioloraError(f"{p}: no such run or adapter folder")
    raise AudioloraError(f"{p}: neither an adapter folder nor a run folder with final/ or best/")


@click.command("eval")
@click.argument("run")
@click.option("--adapter", "which", default="final", show_default=True, help="final or best.")
@click.option("--tracks", type=int, help="Evaluate only the first N test tracks.")
@click.option("--shifts", type=int, help="Random shifts (demucs); default: the run's eval.shifts.")
@click.option("--overlap", type=float, help="Chunk overlap; default: the run's eval.overlap.")
def eval_(
    run: str, which: str, tracks: int | None, shifts: int | None, overlap: float | None
) -> None:
    """Evaluate base vs adapted on a RUN folder's test split; update its metrics.json and sdr.png."""
    from ..config import load_config
    from ..families.separation.evaluate import evaluate_adapter, update_metrics_json

    run_dir = Path(run)
    cfg_path = run_dir / "config.yaml"
    if not cfg_path.is_file():
        raise AudioloraError(
            f"{run_dir}: no config.yaml (not a run folder made by `audiolora train`)"
        )
    overrides = []
    if shifts is not None:
        overrides.append(f"eval.shifts={shifts}")
    if overlap is not None:
        overrides.append(f"eval.overlap={overlap}")
    config = load_config(cfg_path, overrides)
    if config.model.family != "separation":
        raise UsageError(
            f"{run_dir}: a {config.model.family} run; `audiolora eval` evaluates separation runs"
        )
    report = evaluate_adapter(config, _adapter_dir(run, which), run_dir, max_tracks=tracks)
    path = update_metrics_json(run_dir, report)
    info(f"wrote {path} and {report.get('chart')}")


@click.command()
@click.argument("files", nargs=-1, required=True)
@click.option(
    "--model",
    "base",
    help="Base model name or file (default: the adapter's base, else htdemucs-mini).",
)
@click.option("--adapter", help="Adapter folder (or a run folder: its final/).")
@click.option("--out", "-o", default="separated", show_default=True, help="Output folder.")
@click.option(
    "--shifts", type=int, default=0, show_default=True, help="Random time shifts to average."
)
@click.option(
    "--overlap", type=float, default=0.25, show_default=True, help="Chunk overlap (0..0.9)."
)
def separate(
    files: tuple[str, ...],
    base: str | None,
    adapter: str | None,
    out: str,
    shifts: int,
    overlap: float,
) -> None:
    """Separate audio FILES into one WAV per stem: OUT/<file name>/<stem>.wav."""
    from ..families.separation.separate import separate_file
    from ..hub import load_model

    if not 0 <= overlap < 1:
        raise UsageError(f"--overlap {overlap}: must be in [0, 1)")
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise AudioloraError(f"{missing[0]}: no such audio file")
    if adapter:
        from ..families.separation.model import load_adapted

        model, _ = load_adapted(_adapter_dir(adapter), base)
        label = f"{base or 'recorded base'} + {adapter}"
    else:
        model = load_model(base or "htdemucs-mini")
        label = base or "htdemucs-mini"
    info(f"model {label}: stems {', '.join(model.sources)} at {model.samplerate} Hz")
    total_audio = total_wall = 0.0
    for f in files:
        result = separate_file(
            model, Path(f), Path(out) / Path(f).stem, shifts=shifts, overlap=overlap
        )
        total_audio += result.seconds_audio
        total_wall += result.seconds_wall
        info(f"{f}: {len(result.stems)} stems -> {Path(out) / Path(f).stem} (RTF {result.rtf:.3f})")
    console.print(
        f"separated {len(files)} file(s), {total_audio:.1f} s of audio in {total_wall:.1f} s: "
        f"real-time factor {total_wall / max(total_audio, 1e-9):.3f}"
    )


@click.command()
@click.argument("source")
@click.option("--merge", is_flag=True, help="Merge the adapter into the base: one model file.")
@click.option(
    "--out", "-o", required=True, help="Output: a .safetensors file with --merge, else a folder."
)
@click.option("--model", "base", help="Base model (default: the one recorded with the adapter).")
@click.option(
    "--quantize", type=click.Choice(["int8"]), help="int8 dynamic quantization (with --merge)."
)
def export(source: str, merge: bool, out: str, base: str | None, quantize: str | None) -> None:
    """Export a run's adapter (SOURCE: run or adapter folder), or with --merge a merged model file."""
    adapter_dir = _adapter_dir(source)
    if not merge:
        if quantize:
            raise UsageError("--quantize needs --merge (it applies to the merged model)")
        dst = Path(out)
        if dst.exists():
            raise AudioloraError(f"{dst}: already exists; choose another --out")
        tmp = dst.with_name(f".{dst.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(adapter_dir, tmp)
        tmp.replace(dst)
        console.print(f"adapter {adapter_dir} -> {dst}")
        return
    from ..families.separation.export import export_merged_model

    path = export_merged_model(adapter_dir, Path(out), base=base, quantize=quantize)
    size = path.stat().st_size / 2**20
    console.print(
        f"merged model -> {path} ({size:.1f} MB{', int8 dynamic quantization at load' if quantize else ''}); "
        f"use it with: audiolora separate FILE --model {path}"
    )


COMMANDS = [eval_, separate, export]
