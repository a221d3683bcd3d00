"""`audiolora transcribe` and `audiolora transcribe-poc`: the transcription family's commands (issue 7)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..console import console, info


def _note_kwargs(
    onset_threshold: float | None, frame_threshold: float | None, min_note_ms: float, adapter=None
) -> dict:
    """Note-creation options: basic-pitch's defaults, then the adapter's tuned thresholds
    (thresholds.json), then what the command line gives."""
    from ..families.transcription.evaluation import read_thresholds

    kwargs = {"onset_threshold": 0.5, "frame_threshold": 0.3, "min_note_ms": min_note_ms}
    kwargs.update(read_thresholds(adapter))
    if onset_threshold is not None:
        kwargs["onset_threshold"] = onset_threshold
    if frame_threshold is not None:
        kwargs["frame_threshold"] = frame_threshold
    return kwargs


_NOTE_OPTIONS = [
    click.option(
        "--onset-threshold",
        type=click.FloatRange(0, 1),
        help="Default: the adapter's tuned value (thresholds.json), else 0.5.",
    ),
    click.option(
        "--frame-threshold",
        type=click.FloatRange(0, 1),
        help="Default: the adapter's tuned value (thresholds.json), else 0.3.",
    ),
    click.option("--min-note-ms", default=127.70, show_default=True, type=click.FloatRange(0)),
    click.option(
        "--base",
        default="basic-pitch",
        show_default=True,
        help="Basic Pitch base (name or .safetensors).",
    ),
]


def _note_options(fn):
    for opt in reversed(_NOTE_OPTIONS):
        fn = opt(fn)
    return fn


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--out", "-o", type=click.Path(dir_okay=False), help="MIDI file to write [FILE.mid].")
@click.option(
    "--adapter", type=click.Path(file_okay=False), help="Adapter folder for the whole file."
)
@click.option(
    "--stems", is_flag=True, help="Separate first, transcribe each stem, one track per stem."
)
@click.option(
    "--separation-model", default="htdemucs-mini", show_default=True, help="With --stems."
)
@click.option("--separation-adapter", type=click.Path(file_okay=False), help="With --stems.")
@click.option("--adapters", help="With --stems: STEM=DIR,... (stems without one use the base).")
@_note_options
def transcribe(
    file: str,
    out: str | None,
    adapter: str | None,
    stems: bool,
    separation_model: str,
    separation_adapter: str | None,
    adapters: str | None,
    onset_threshold: float | None,
    frame_threshold: float | None,
    min_note_ms: float,
    base: str,
) -> None:
    """Transcribe the notes in FILE to a MIDI file (Basic Pitch, optionally adapted, optionally per stem)."""
    from ..errors import UsageError
    from ..families.transcription.family import load_adapted
    from ..families.transcription.inference import load_mono, transcribe_audio
    from ..families.transcription.midi import write_midi

    kwargs = _note_kwargs(onset_threshold, frame_threshold, min_note_ms, adapter)
    out_path = Path(out) if out else Path(file).with_suffix(".mid")
    if stems:
        if adapter:
            raise UsageError(
                "--adapter is for a single track; with --stems use --adapters STEM=DIR,..."
            )
        from ..audio import read_audio
        from ..families.transcription.pipeline import (
            load_stem_models,
            parse_adapter_map,
            separate,
            transcribe_stems,
        )

        adapter_map = parse_adapter_map(adapters)
        audio, sr = read_audio(file)
        info(f"separating {file} with {separation_model}")
        separated = separate(audio, sr, separation_model, separation_adapter)
        unknown = sorted(set(adapter_map) - set(separated))
        if unknown:
            raise UsageError(
                f"--adapters: no stem {unknown[0]!r} (the separation model gives {', '.join(separated)})"
            )
        models = load_stem_models(adapter_map, base)
        per_stem = {
            stem: _note_kwargs(onset_threshold, frame_threshold, min_note_ms, adapter_map.get(stem))
            for stem in separated
        }
        tracks = transcribe_stems(separated, sr, models, load_adapted(base, None), per_stem)
    else:
        if adapters:
            raise UsageError(
                "--adapters needs --stems; for one adapter on the whole file use --adapter DIR"
            )
        model = load_adapted(base, adapter)
        tracks = {"notes": transcribe_audio(model, load_mono(file), **kwargs)}
    write_midi(tracks, out_path)
    summary = ", ".join(f"{name}: {len(notes)} notes" for name, notes in tracks.items())
    console.print(f"wrote {out_path} ({summary})")


@click.command("transcribe-poc")
@click.argument("data_root", type=click.Path(file_okay=False))
@click.option("--split", default="test", show_default=True)
@click.option("--adapters", help="STEM=DIR,... adapters for the 'adapters on stems' rows.")
@click.option(
    "--separation-model", help="Also transcribe stems separated from the mix by this model."
)
@click.option("--separation-adapter", type=click.Path(file_okay=False))
@click.option(
    "--simulated-sdr",
    type=float,
    help="Instead of a separation model: 'separated' stems are the true stems with the others "
    "mixed in at this SDR (dB), to see how good a separator the pipeline needs.",
)
@click.option("--limit", type=click.IntRange(1), help="Only the first N tracks (of each split).")
@click.option(
    "--tune-on",
    help="Also tune each model's thresholds per input and stem on this split (e.g. valid) and "
    "add the tuned scores.",
)
@click.option(
    "--merge-duplicates",
    is_flag=True,
    help="Also score the union of the stems' notes with a note heard in two stems kept once.",
)
@click.option("--json-out", type=click.Path(dir_okay=False), help="Write the table as JSON too.")
@_note_options
def transcribe_poc(
    data_root: str,
    split: str,
    adapters: str | None,
    separation_model: str | None,
    separation_adapter: str | None,
    simulated_sdr: float | None,
    limit: int | None,
    tune_on: str | None,
    merge_duplicates: bool,
    json_out: str | None,
    onset_threshold: float | None,
    frame_threshold: float | None,
    min_note_ms: float,
    base: str,
) -> None:
    """The guide's proof of concept on DATA_ROOT/SPLIT: base on the mix, base on stems, adapters on
    stems; with --separation-model also base and adapters on the stems it separates from the mix."""
    from rich import box
    from rich.table import Table

    from ..families.transcription.pipeline import parse_adapter_map
    from ..families.transcription.poc import run_poc

    adapter_map = parse_adapter_map(adapters)
    results = run_poc(
        Path(data_root),
        split,
        adapter_map,
        adapter_note_kwargs={
            stem: _note_kwargs(onset_threshold, frame_threshold, min_note_ms, path)
            for stem, path in adapter_map.items()
        },
        base=base,
        separation_model=separation_model,
        separation_adapter=separation_adapter,
        limit=limit,
        tune_split=tune_on,
        merge=merge_duplicates,
        simulated_sdr=simulated_sdr,
        **_note_kwargs(onset_threshold, frame_threshold, min_note_ms),
    )
    title = f"note F1, {data_root}/{split}, {results['tracks']} tracks"
    if tune_on:
        title += f"; tuned: thresholds tuned on {tune_on}"
    if simulated_sdr is not None:
        title += f"; separated = true stems with the others at {simulated_sdr:g} dB SDR"
    console.print(title)
    # One table per condition: eight columns do not fit an 80-column log, and rich would squeeze the
    # condition column to nothing.
    columns = ["scope", "onset F1", "on+off F1", "frame F1", "onset P/R"]
    if tune_on:
        columns += ["tuned F1", "tuned P/R"]
    conditions = list(dict.fromkeys(row["condition"] for row in results["rows"]))
    for condition in conditions:
        table = Table(title=condition, box=box.SIMPLE, title_justify="left")
        for col in columns:
            table.add_column(col, justify="left" if col == "scope" else "right")
        for row in (r for r in results["rows"] if r["condition"] == condition):
            s = row["scores"]
            cells = [
                row["scope"],
                *(f"{s[k]:.3f}" for k in ("onset_f1", "onset_offset_f1", "frame_f1")),
                f"{s['onset_precision']:.2f}/{s['onset_recall']:.2f}",
            ]
            if tune_on:
                t = row.get("tuned_scores")
                cells += (
                    [f"{t['onset_f1']:.3f}", f"{t['onset_precision']:.2f}/{t['onset_recall']:.2f}"]
                    if t
                    else ["", ""]
                )
            table.add_row(*cells)
        console.print(table)
    if json_out:
        Path(json_out).write_text(json.dumps(results, indent=2))
        console.print(f"wrote {json_out}")


COMMANDS = [transcribe, transcribe_poc]
