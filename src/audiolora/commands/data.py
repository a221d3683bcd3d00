"""`audiolora data check | render | split` (issue 5)."""

from __future__ import annotations

import click

from ..errors import ConfigError


def _csv(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


@click.group()
def data() -> None:
    """Render, check and split audio datasets."""


@data.command("check")
@click.argument("root")
@click.option(
    "--sources", "-s", help="Comma-separated stem names (default: the manifest's, or found)."
)
@click.option(
    "--samplerate", "-r", type=int, help="Expected sample rate (default: the most common one)."
)
@click.option(
    "--allow-resample", is_flag=True, help="Accept other sample rates (resampled on load)."
)
@click.option(
    "--tolerance",
    "tolerance_s",
    type=float,
    default=None,
    help="Length tolerance in seconds [default: 0.01].",
)
def data_check(
    root: str,
    sources: str | None,
    samplerate: int | None,
    allow_resample: bool,
    tolerance_s: float | None,
) -> None:
    """Check a stem-folder dataset: alignment, rates, sum == mixture, clipping, corrupt files.

    ROOT is a dataset (with train/valid/test folders) or one split folder. Exits 1 on any error.
    """
    from ..console import console
    from ..data.checks import DEFAULT_TOLERANCE_S, check_dataset, guess_sources

    names = _csv(sources) or guess_sources(root)
    report = check_dataset(
        root,
        names,
        samplerate=samplerate,
        allow_resample=allow_resample,
        tolerance_s=DEFAULT_TOLERANCE_S if tolerance_s is None else tolerance_s,
    )
    console.print(report.table())
    for line in report.errors:
        console.print(f"[red]error[/red] {line}", soft_wrap=True)
    for line in report.warnings:
        console.print(f"[yellow]warning[/yellow] {line}", soft_wrap=True)
    console.print(report.summary(), soft_wrap=True)
    if not report.ok:
        click.get_current_context().exit(1)


@data.command("render")
@click.option("--recipe", required=True, help="chorales, pop4, techhouse5 or traditional.")
@click.option("--tracks", "-n", type=int, required=True, help="How many tracks to render.")
@click.option("--out", "-o", required=True, help="Output folder.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--seconds", type=float, help="Length of each track in seconds (recipe default).")
@click.option("--soundfont", help="A GM .sf2 (default: FluidR3_GM, else pretty_midi's TimGM6mb).")
@click.option("--samplerate", type=int, default=44100, show_default=True)
@click.option("--splits", default="0.8,0.1,0.1", show_default=True, help="train,valid,test shares.")
@click.option(
    "--set", "sets", multiple=True, help="Recipe parameter as KEY=YAML, e.g. --set bpm=[120,124]."
)
@click.option("--overwrite", is_flag=True, help="Replace a previous render in --out.")
def data_render(
    recipe: str,
    tracks: int,
    out: str,
    seed: int,
    seconds: float | None,
    soundfont: str | None,
    samplerate: int,
    splits: str,
    sets: tuple[str, ...],
    overwrite: bool,
) -> None:
    """Render real multi-stem audio from scores and MIDI with FluidSynth."""
    import yaml

    from ..data.render import render_dataset

    try:
        shares = tuple(float(s) for s in _csv(splits))
    except ValueError:
        raise ConfigError(
            f"--splits must be three numbers like 0.8,0.1,0.1, got {splits!r}"
        ) from None
    if len(shares) != 3:
        raise ConfigError(f"--splits must be three numbers like 0.8,0.1,0.1, got {splits!r}")
    params = {}
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set takes KEY=VALUE, got {item!r}")
        params[key.strip()] = yaml.safe_load(value)
    if seconds is not None:
        params["seconds"] = seconds
    render_dataset(
        recipe,
        out,
        tracks,
        seed=seed,
        soundfont=soundfont,
        splits=shares,  # type: ignore[arg-type]
        samplerate=samplerate,
        overwrite=overwrite,
        **params,
    )


@data.command("split")
@click.argument("src")
@click.argument("dst")
@click.option("--seconds", type=float, default=30.0, show_default=True, help="Segment length.")
@click.option(
    "--min-seconds", type=float, default=10.0, show_default=True, help="Drop shorter tails."
)
@click.option(
    "--sources", "-s", help="Comma-separated stem names (default: all audio files found)."
)
def data_split(src: str, dst: str, seconds: float, min_seconds: float, sources: str | None) -> None:
    """Cut the tracks of SRC into aligned SECONDS-long segments written to DST."""
    from ..console import info
    from ..data.split import split_dataset

    written = split_dataset(
        src, dst, seconds=seconds, min_seconds=min_seconds, sources=_csv(sources) or None
    )
    info(f"wrote {len(written)} segments to {dst}")


COMMANDS = [data]
