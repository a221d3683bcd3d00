"""`audiolora v2a run | split | cache | generate | render`: the video-to-audio commands (issue 16)."""

from __future__ import annotations

from pathlib import Path

import click

from ..console import console, info

_ENCODERS = [
    click.option(
        "--codec",
        help="Audio codec (AutoencoderOobleck or a pipeline folder with vae/): hub id or local folder.",
    ),
    click.option("--clip-model", help="CLIPVisionModelWithProjection: hub id or local folder."),
    click.option("--text-model", help="CLIPTextModelWithProjection: hub id or local folder."),
]


def _with(options):
    def wrap(f):
        for opt in reversed(options):
            f = opt(f)
        return f

    return wrap


def _config(config_path, overrides, out: Path, **given):
    """The run config: file (optional) + v2a defaults + options given + key=value overrides; the
    base defaults to v2a-mini and unset encoders to the ones saved with the base."""
    from ..config import ModelConfig, load_config
    from ..families.v2a.bases import DEFAULT_BASE, with_base_encoders

    sets = ["model.family=v2a", f"v2a.cache_dir={out / 'cache'}"]
    names = {"codec": "v2a.codec", "clip_model": "v2a.clip_model", "text_model": "v2a.text_model"}
    names |= {"model": "model.name", "steps": "train.max_steps"}
    sets += [f"{names[k]}={v}" for k, v in given.items() if v is not None]
    config = load_config(config_path, [*sets, *overrides])
    if config.model.name == ModelConfig.model_fields["name"].default:  # not a v2a base: unset
        config = config.model_copy(
            update={"model": config.model.model_copy(update={"name": DEFAULT_BASE})}
        )
    opts = with_base_encoders(config.v2a, config.model.name)
    return config.model_copy(update={"v2a": opts})


@click.group("v2a")
def v2a() -> None:
    """Video-to-audio: split videos, cache frozen features, train LoRA, evaluate base vs adapted."""


@v2a.command("run")
@click.argument("video_dir", type=click.Path(file_okay=False, path_type=Path))
@click.argument("overrides", nargs=-1)
@click.option("--out", "-o", required=True, type=click.Path(path_type=Path), help="Run folder.")
@click.option("--config", "config_path", help="A run config (YAML) to start from.")
@click.option(
    "--model",
    help="The v2a base: v2a-mini or a V2ADiT folder [default: the config's, else v2a-mini].",
)
@click.option("--steps", type=int, help="Training steps (train.max_steps).")
@click.option("--rebuild-cache", is_flag=True, help="Re-encode every clip.")
@_with(_ENCODERS)
def run(video_dir, overrides, out, config_path, model, steps, rebuild_cache, **enc) -> None:
    """Split VIDEO_DIR into clips, cache features, train (per rank phase), evaluate base vs adapted.

    OVERRIDES are key=value config settings, e.g. 'v2a.rank_phases=[[0,32],[200,64],[400,128]]'.
    """
    from ..families.v2a.pipeline import split_and_cache, train_phases

    config = _config(config_path, overrides, out, model=model, steps=steps, **enc)
    out.mkdir(parents=True, exist_ok=True)
    split_and_cache(config, video_dir, out, rebuild_cache)
    metrics = train_phases(config, out)
    print_report(metrics.get("report") or {})


def print_report(report: dict) -> None:
    from rich.table import Table

    if not report.get("loss"):
        info(report.get("note", "no evaluation"))
        return
    rows = {"flow-matching loss": report["loss"], **report.get("table", {})}
    table = Table(title=f"base vs adapted on {report['clips']} held-out clips")
    for col in ("metric", "base", "adapted"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for name, v in rows.items():
        table.add_row(name, f"{v['base']:.4g}", f"{v['adapted']:.4g}")
    console.print(table)
    if report.get("samples"):
        info(f"samples: {report['samples']}")


@v2a.command("split")
@click.argument("video_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--out", "-o", required=True, type=click.Path(path_type=Path), help="clips.tsv to write."
)
@click.option("--clip-seconds", type=float, default=2.0, show_default=True)
@click.option("--overlap", type=float, default=0.5, show_default=True, help="Fraction of a clip.")
@click.option("--holdout", type=float, default=0.25, show_default=True, help="Share of videos.")
def split(video_dir, out, clip_seconds, overlap, holdout) -> None:
    """Split VIDEO_DIR (mp4, mkv, webm, mov) into clips; unusable videos get a one-line reason."""
    from ..console import warn
    from ..data.video import split_videos, write_clip_tsv

    clips, skipped = split_videos(video_dir, clip_seconds, overlap, holdout)
    for line in skipped:
        warn(f"skipped {line}")
    write_clip_tsv(out, clips)
    info(f"{len(clips)} clips -> {out}")


@v2a.command("cache")
@click.argument("clips_tsv", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("video_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", "-o", required=True, type=click.Path(path_type=Path), help="Cache folder.")
@click.option("--rebuild", is_flag=True, help="Replace a cache built with other encoders/settings.")
@click.argument("overrides", nargs=-1)
@_with(_ENCODERS)
def cache(clips_tsv, video_dir, out, rebuild, overrides, **enc) -> None:
    """Encode every clip of CLIPS_TSV once with the frozen encoders into the cache folder OUT.

    Encoders not given are v2a-mini's.
    """
    from ..config import load_config
    from ..console import track, warn
    from ..data.video import read_clip_tsv
    from ..families.v2a.bases import DEFAULT_BASE, with_base_encoders
    from ..families.v2a.features import CacheSettings, build_cache

    sets = ["model.family=v2a", f"v2a.cache_dir={out}"]
    sets += [f"v2a.{k}={v}" for k, v in enc.items() if v is not None]
    opts = with_base_encoders(load_config(None, [*sets, *overrides]).v2a, DEFAULT_BASE)
    clips = read_clip_tsv(clips_tsv)
    manifest, failed = build_cache(
        clips,
        video_dir,
        out,
        CacheSettings.from_options(opts),
        rebuild,
        lambda c: track(c, "cache"),
    )
    for line in failed:
        warn(f"not cached: {line}")
    info(f"{len(manifest['clips'])} clips cached in {out} (key {manifest['hash']})")


@v2a.command("generate")
@click.argument("video", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("overrides", nargs=-1)
@click.option(
    "--out", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path),
    help="OUT.mp4 to write (OUT.wav next to it).",
)  # fmt: skip
@click.option("--config", "config_path", help="The adapter's run config (its v2a.* settings).")
@click.option("--model", help="The v2a base [default: the adapter's base, else v2a-mini].")
@click.option("--adapter", help="Adapter folder, optionally with a scale: DIR or DIR:SCALE.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--steps", type=int, help="Euler steps [default: v2a.sample_steps].")
@click.option("--guidance", type=float, help="Classifier-free guidance [default: v2a.guidance].")
@click.option("--crossfade", type=float, default=0.2, show_default=True, help="Seconds.")
@click.option("--caption", help="Text condition [default: the video's caption sidecar or name].")
@_with(_ENCODERS)
def generate(video, overrides, out, config_path, model, adapter, seed, steps, guidance, **kw):
    """Write OUT: VIDEO's picture with a soundtrack generated from it (AAC), and OUT.wav.

    Videos longer than v2a.clip_seconds are generated in windows of that length, joined by a
    crossfade. Encoders default to the ones the adapter records. OVERRIDES are key=value settings.
    """
    from ..config import load_config
    from ..console import track
    from ..families.generation.inference import parse_adapter_arg
    from ..families.v2a.generate import generate_video, resolve

    crossfade, caption = kw.pop("crossfade"), kw.pop("caption")
    sets = ["model.family=v2a", *(f"v2a.{k}={v}" for k, v in kw.items() if v is not None)]
    opts = load_config(config_path, [*sets, *overrides]).v2a
    folder, scale = parse_adapter_arg(adapter) if adapter else (None, 1.0)
    base, settings = resolve(opts, model, folder)
    done = generate_video(
        video,
        out,
        model=base,
        settings=settings,
        adapter=folder,
        scale=scale,
        window=opts.clip_seconds,
        crossfade=crossfade,
        steps=steps or opts.sample_steps,
        seed=seed,
        guidance=opts.guidance if guidance is None else guidance,
        caption=caption,
        progress=lambda items: track(items, "windows"),
    )
    info(
        f"{done['out']} ({done['seconds']:.2f} s, {done['windows']} window(s), video "
        f"{done['video']}) and {done['wav']}"
    )


@v2a.command("render")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--videos", "-n", type=int, default=8, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--seconds", type=float, default=4.0, show_default=True)
@click.option("--fps", type=int, default=16, show_default=True)
@click.option("--size", type=int, default=64, show_default=True)
@click.option("--samplerate", type=int, default=16000, show_default=True)
@click.option("--container", type=click.Choice(["mp4", "mkv"]), default="mp4", show_default=True)
@click.option(
    "--kit", type=click.Choice(["drums", "wood"]), default="drums", show_default=True,
    help="Sounds and squares: drums (v2a-mini's pretraining kit) or wood (another domain).",
)  # fmt: skip
def render(out, videos, seed, seconds, fps, size, samplerate, container, kit) -> None:
    """Render synthetic videos whose flashing squares sit exactly on the note onsets (+ .onsets.json).

    The onset times depend on --seed only, so two kits rendered with one seed share them.
    """
    from ..data.render.video import VideoSpec, render_videos

    spec = VideoSpec(seconds, fps, size, samplerate, container=container, kit=kit)
    paths = render_videos(out, videos, seed, spec)
    info(f"{len(paths)} videos with ground-truth onsets -> {out}")


COMMANDS = [v2a]
