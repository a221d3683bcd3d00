"""Separate, transcribe and generate for the UI: the families' own APIs, writing files into an
output folder and returning their paths (plus pictures from `media`)."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UsageError
from . import media

GENERATE_API = "audiolora.families.generation.inference"


@dataclass
class Stem:
    name: str
    audio: Path
    waveform: Path


def separate_upload(
    path: str | os.PathLike,
    out_dir: str | os.PathLike,
    base: str = "htdemucs-mini",
    adapter: str | None = None,
    shifts: int = 0,
) -> list[Stem]:
    """Separate one file with the base (and adapter folder); one WAV and waveform PNG per stem."""
    from ..audio import read_audio
    from ..families.separation.separate import separate_file

    if not path or not Path(path).is_file():
        raise UsageError("upload an audio file to separate")
    if adapter:
        from ..commands.separation import _adapter_dir
        from ..families.separation.model import load_adapted

        model, _ = load_adapted(_adapter_dir(adapter), base or None)
    else:
        from ..hub import load_model

        model = load_model(base or "htdemucs-mini")
    model.eval()
    out_dir = Path(out_dir)
    result = separate_file(model, Path(path), out_dir, shifts=shifts, progress=False)
    stems = []
    for name, wav in result.stems.items():
        audio, sr = read_audio(wav)
        png = media.waveform_png(audio, sr, out_dir / f"{name}.png", title=name)
        stems.append(Stem(name, wav, png))
    return stems


@dataclass
class Transcription:
    midi: Path
    piano_roll: Path
    preview: Path | None
    notes: int


def transcribe_upload(
    path: str | os.PathLike,
    out_dir: str | os.PathLike,
    base: str = "basic-pitch",
    adapter: str | None = None,
    onset_threshold: float | None = None,
    frame_threshold: float | None = None,
    render: bool = True,
) -> Transcription:
    """Transcribe one file (adapter thresholds as the CLI picks them): MIDI, piano roll, preview."""
    from ..commands.transcription import _note_kwargs
    from ..families.transcription.family import load_adapted
    from ..families.transcription.inference import load_mono, transcribe_audio
    from ..families.transcription.midi import write_midi

    if not path or not Path(path).is_file():
        raise UsageError("upload an audio file to transcribe")
    kwargs = _note_kwargs(onset_threshold, frame_threshold, 127.70, adapter or None)
    model = load_adapted(base or "basic-pitch", adapter or None)
    notes = transcribe_audio(model, load_mono(path), **kwargs)
    out_dir = Path(out_dir)
    stem = Path(path).stem
    midi = write_midi({"notes": notes}, out_dir / f"{stem}.mid")
    roll = media.piano_roll_png(notes, out_dir / f"{stem}_roll.png", f"{stem}: {len(notes)} notes")
    preview = (
        media.render_notes(notes, out_dir / f"{stem}_preview.wav") if render and notes else None
    )
    return Transcription(midi, roll, preview, len(notes))


def generation_api() -> Callable | None:
    """`generate` from the generation family when it is importable, else None (tab hidden)."""
    try:
        module = importlib.import_module(GENERATE_API)
    except ImportError:
        return None
    fn = getattr(module, "generate", None)
    return fn if callable(fn) else None


def parse_adapters(rows) -> list[tuple[str, float]]:
    """[(folder, scale)] from (folder, scale) pairs, blank folders skipped."""
    out = []
    for folder, scale in rows:
        folder = (folder or "").strip()
        if folder:
            if not Path(folder).exists():
                raise UsageError(f"{folder}: no such adapter folder")
            out.append((folder, float(scale)))
    return out


def generate_to_files(
    out_dir: str | os.PathLike,
    model: str,
    prompt: str,
    *,
    lyrics: str = "",
    duration: float = 10.0,
    seed: int = 0,
    steps: int | None = None,
    guidance: float | None = None,
    adapters: list[tuple[str, float]] = (),
    progress=None,
    generate: Callable | None = None,
) -> tuple[Path, Path]:
    """Generate one clip with the generation family; (WAV, spectrogram PNG)."""
    from ..audio import write_audio

    generate = generate or generation_api()
    if generate is None:
        raise UsageError("the generation family is not available in this install")
    if not (prompt or "").strip():
        raise UsageError("write a prompt to generate from")
    audio, sr = generate(
        model,
        prompt,
        lyrics=lyrics or "",
        duration=float(duration),
        seed=int(seed),
        steps=int(steps) if steps else None,
        guidance=float(guidance) if guidance else None,
        adapters=list(adapters),
        progress=progress,
    )
    audio = np.asarray(audio, dtype=np.float32)
    out_dir = Path(out_dir)
    name = f"generated_seed{int(seed)}"
    wav = write_audio(out_dir / f"{name}.wav", audio, int(sr))
    png = media.spectrogram_png(audio, int(sr), out_dir / f"{name}.png", title=prompt[:60])
    return wav, png
