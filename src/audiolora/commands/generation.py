"""Generation commands: generate, merge, export-lora, data caption."""

from __future__ import annotations

from pathlib import Path

import click

from ..console import console, info, settings

ADAPTER_HELP = "Adapter folder, optionally with a scale: DIR or DIR:SCALE (repeatable)."


@click.command()
@click.option(
    "--model", "model", required=True, help="Bundled name (gen-mini), diffusers folder or hub id."
)
@click.option("--prompt", required=True, help="Caption of the music to generate.")
@click.option(
    "--lyrics", default="", help="Lyrics with [verse]/[chorus] tags; empty = instrumental."
)
@click.option("--duration", type=float, default=10.0, show_default=True, help="Seconds.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--steps", type=int, default=None, help="Sampling steps (default: the checkpoint's).")
@click.option(
    "--guidance", type=float, default=None, help="Guidance scale (default: the checkpoint's)."
)
@click.option("--shift", type=float, default=None, help="Time shift (default: the checkpoint's).")
@click.option("--adapter", "adapters", multiple=True, help=ADAPTER_HELP)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output WAV file.")
def generate(model, prompt, lyrics, duration, seed, steps, guidance, shift, adapters, out) -> None:
    """Generate a clip from a caption with a base and adapters (the stock diffusers pipeline)."""
    from rich.progress import Progress

    from ..audio import write_audio
    from ..errors import UsageError
    from ..families.generation.inference import generate as run
    from ..families.generation.inference import parse_adapter_arg
    from ..families.generation.report import save_spectrogram

    if duration <= 0:
        raise UsageError(f"--duration {duration}: must be a positive number of seconds")
    with Progress(console=console, transient=True, disable=settings.quiet) as bar:
        task = bar.add_task("generate", total=None)

        def step(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        audio, sr = run(
            model,
            prompt,
            lyrics=lyrics,
            duration=duration,
            seed=seed,
            steps=steps,
            guidance=guidance,
            shift=shift,
            adapters=[parse_adapter_arg(a) for a in adapters],
            progress=step,
        )
    path = write_audio(out, audio, sr)
    png = save_spectrogram(audio, sr, Path(out).with_suffix(".png"), prompt[:60])
    info(
        f"{path} ({audio.shape[1] / sr:.2f} s at {sr} Hz, {audio.shape[0]} channels); spectrogram {png}"
    )


@click.command()
@click.option(
    "--model", "model", required=True, help="Base: bundled name, diffusers folder or hub id."
)
@click.option("--adapter", "adapters", multiple=True, required=True, help=ADAPTER_HELP)
@click.option(
    "--out", required=True, type=click.Path(file_okay=False), help="Merged diffusers folder."
)
def merge(model, adapters, out) -> None:
    """Merge adapters into the base's DiT and write a complete diffusers pipeline folder."""
    from ..families.generation.export import merge_to_folder
    from ..families.generation.inference import parse_adapter_arg

    folder = merge_to_folder(model, [parse_adapter_arg(a) for a in adapters], out)
    info(
        f"merged pipeline -> {folder}; use it with: audiolora generate --model {folder} --prompt ..."
    )


@click.command("export-lora")
@click.argument("adapter", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--out", required=True, type=click.Path(), help="Output folder (diffusers) or file (comfyui)."
)
@click.option(
    "--format",
    "layout",
    type=click.Choice(["diffusers", "comfyui"]),
    default="diffusers",
    show_default=True,
    help="diffusers: pipe.load_lora_weights(OUT); comfyui: one .safetensors for ComfyUI's LoRA loader.",
)
def export_lora(adapter, out, layout) -> None:
    """Write an ACE-Step LoRA in the layout an app loads (diffusers pipeline or ComfyUI)."""
    from ..families.generation.export import export_comfyui_lora, export_diffusers_lora

    if layout == "comfyui":
        path = export_comfyui_lora(adapter, out)
        info(f"{path}: put it in ComfyUI's models/loras/ and load it with LoraLoaderModelOnly")
        return
    path = export_diffusers_lora(adapter, out)
    info(f"{path}: load with AceStepPipeline.from_pretrained(...).load_lora_weights({str(out)!r})")


@click.command("caption")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("--overwrite", is_flag=True, help="Re-estimate bpm and key where already filled.")
def caption(folder, overwrite) -> None:
    """Fill bpm and key from the signal into FOLDER/captions.csv (offline, librosa); edit it after."""
    from ..data.caption_table import fill_rows, load_table, save_table

    rows = fill_rows(load_table(folder), folder, overwrite=overwrite)
    path = save_table(rows, folder)
    missing = sum(1 for r in rows if not str(r[1]).strip())
    info(
        f"{path}: {len(rows)} files, bpm and key filled from the signal"
        + (f"; {missing} without a caption: edit the CSV" if missing else "")
    )


COMMANDS = [generate, merge, export_lora]
DATA_COMMANDS = [caption]
