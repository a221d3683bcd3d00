"""Cut long tracks into fixed-length segments, the stems of a track cut at the same frames.

Input: a stem-folder dataset (`root/[train|valid|test/]<track>/<stem>.wav`) or a folder of plain
audio files (each with an optional `<file>.json` caption sidecar). Output mirrors the input, with
`<track>_000`, `<track>_001`, ... folders (or files). Tails shorter than `min_seconds` are dropped.
Ground-truth `notes.json` files are cut too (notes shifted to the segment, cut at its edges).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import soundfile as sf

from ..audio import audio_info, write_audio
from ..console import track as progress
from ..console import warn
from ..errors import DataError
from .files import write_json
from .layout import AUDIO_SUFFIXES

SPLITS = ("train", "valid", "test")


def segment_bounds(
    frames: int, samplerate: int, seconds: float, min_seconds: float
) -> list[tuple[int, int]]:
    """(start, stop) frames of each segment; a tail shorter than `min_seconds` is dropped."""
    if seconds <= 0 or min_seconds < 0:
        raise DataError(
            f"--seconds must be > 0 and --min-seconds >= 0, got {seconds} and {min_seconds}"
        )
    size = int(round(seconds * samplerate))
    minimum = int(round(min_seconds * samplerate))
    bounds = []
    for start in range(0, frames, size):
        stop = min(start + size, frames)
        if stop - start >= max(minimum, 1):
            bounds.append((start, stop))
    return bounds


def split_dataset(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    seconds: float = 30.0,
    min_seconds: float = 10.0,
    sources: list[str] | None = None,
) -> list[Path]:
    """Split every track (or file) under `src` into `dst`; returns the written segment paths."""
    src, dst = Path(src), Path(dst)
    if not src.is_dir():
        raise DataError(
            f"{src}: no such folder; pass a dataset root, a split folder or a folder of audio files"
        )
    if dst.resolve() == src.resolve() or src.resolve() in dst.resolve().parents:
        raise DataError(f"{dst}: output must be outside the input folder {src}")
    if dst.exists() and any(dst.iterdir()):
        raise DataError(f"{dst}: output folder is not empty; pick a new one")
    groups = [(src / s, dst / s) for s in SPLITS if (src / s).is_dir()] or [(src, dst)]
    jobs: list[tuple[Path, Path]] = []
    for folder_in, folder_out in groups:
        for item in sorted(folder_in.iterdir()):
            if item.is_dir() or item.suffix.lower() in AUDIO_SUFFIXES:
                jobs.append((item, folder_out))
    if not jobs:
        raise DataError(f"{src}: no track folders or audio files to split")
    written: list[Path] = []
    for item, folder_out in progress(jobs, "split"):
        if item.is_dir():
            written += _split_track(item, folder_out, seconds, min_seconds, sources)
        else:
            written += _split_file(item, folder_out, seconds, min_seconds)
    return written


def _split_track(
    folder: Path, out: Path, seconds: float, min_seconds: float, sources: list[str] | None
) -> list[Path]:
    files = sorted(f for f in folder.iterdir() if f.suffix.lower() in AUDIO_SUFFIXES)
    if sources is not None:
        wanted = {*sources, "mixture"}
        missing = [s for s in sources if not any(f.stem == s for f in files)]
        if missing:
            raise DataError(
                f"{folder}: missing stem {missing[0]}.wav; add it or leave it out of --sources"
            )
        files = [f for f in files if f.stem in wanted]
    if not files:
        return []
    infos = [audio_info(f) for f in files]
    rates = {i.samplerate for i in infos}
    if len(rates) > 1:
        raise DataError(
            f"{folder}: stems have different sample rates {sorted(rates)}; run `audiolora data check` "
            "and resample them to one rate first"
        )
    sr = rates.pop()
    frames = min(i.frames for i in infos)  # cut all stems at the same frames: they stay aligned
    bounds = segment_bounds(frames, sr, seconds, min_seconds)
    if not bounds:
        warn(
            f"{folder}: {frames / sr:.1f} s is shorter than --min-seconds {min_seconds:g}; skipped"
        )
    notes_file = folder / "notes.json"
    notes = json.loads(notes_file.read_text()) if notes_file.is_file() else None
    written = []
    for k, (start, stop) in enumerate(bounds):
        target = out / f"{folder.name}_{k:03d}"
        for f, info in zip(files, infos, strict=True):
            audio, _ = sf.read(str(f), start=start, stop=stop, dtype="float32", always_2d=True)
            write_audio(target / f.name, audio.T, sr, subtype=_subtype(info))
            _cut_sidecar(f, target / f.name, (stop - start) / sr)
        if notes is not None:
            write_json(target / "notes.json", cut_notes(notes, start / sr, stop / sr))
        written.append(target)
    return written


def _split_file(path: Path, out: Path, seconds: float, min_seconds: float) -> list[Path]:
    info = audio_info(path)
    bounds = segment_bounds(info.frames, info.samplerate, seconds, min_seconds)
    if not bounds:
        warn(
            f"{path}: {info.duration:.1f} s is shorter than --min-seconds {min_seconds:g}; skipped"
        )
    written = []
    for k, (start, stop) in enumerate(bounds):
        target = out / f"{path.stem}_{k:03d}{path.suffix}"
        audio, _ = sf.read(str(path), start=start, stop=stop, dtype="float32", always_2d=True)
        write_audio(target, audio.T, info.samplerate, subtype=_subtype(info))
        _cut_sidecar(path, target, (stop - start) / info.samplerate)
        written.append(target)
    return written


def _cut_sidecar(audio: Path, target: Path, seconds: float) -> None:
    """Copy a caption sidecar (`<audio>.json`) to the segment with the segment's duration."""
    sidecar = audio.with_suffix(".json")
    if not sidecar.is_file():
        return
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DataError(f"{sidecar}: invalid JSON; fix or remove the sidecar") from None
    if isinstance(meta, dict):
        write_json(target.with_suffix(".json"), {**meta, "duration": round(seconds, 3)})


def cut_notes(notes: dict, start_s: float, stop_s: float) -> dict:
    """The `notes.json` of a segment: notes starting inside it, shifted to 0 and cut at its end."""
    out = {}
    for stem, rows in notes.get("stems", {}).items():
        out[stem] = [
            [round(on - start_s, 6), round(min(off, stop_s) - start_s, 6), pitch, vel]
            for on, off, pitch, vel in rows
            if start_s <= on < stop_s
        ]
    return {**notes, "stems": out}


def _subtype(info) -> str:
    """Keep the source's sample format where soundfile can write it; else 32-bit float."""
    return info.subtype if sf.check_format(info.format, info.subtype) else "FLOAT"
