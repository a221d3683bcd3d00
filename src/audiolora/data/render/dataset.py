"""Render a whole dataset from a recipe: tracks, stems, notes, split by piece, manifest."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ...audio import write_audio
from ...console import info, progress_task
from ...errors import ConfigError, DataError
from ..captions import parse_caption
from ..files import write_bytes_atomic, write_json
from . import chorales, pop4, techhouse5, traditional
from .score import TrackScore
from .synth import DRUM_BANK, file_sha256, find_soundfont, render_parts

RECIPES: dict[str, ModuleType] = {m.NAME: m for m in (chorales, pop4, techhouse5, traditional)}
SPLITS = ("train", "valid", "test")
# The captions table at the dataset root (one row per mixture), as the generation family reads it.
CAPTION_COLUMNS = (
    "filename",
    "caption",
    "genre",
    "bpm",
    "keyscale",
    "timesignature",
    "lyrics",
    "language",
)
PEAK_DBFS = -1.0


def get_recipe(name: str) -> ModuleType:
    key = name.replace("_", "").replace("-", "").lower()
    aliases = {"techhouse5stem": "techhouse5", "techhouse": "techhouse5", "pop": "pop4"}
    key = aliases.get(key, key)
    if key not in RECIPES:
        raise ConfigError(f"unknown recipe {name!r}; choose one of {', '.join(sorted(RECIPES))}")
    return RECIPES[key]


def assign_splits(
    pieces: list[str], splits: tuple[float, float, float], seed: int
) -> dict[str, str]:
    """Map each distinct piece to train/valid/test, by proportion; no piece lands in two splits.

    With three or more pieces every split with a non-zero share gets at least one piece.
    """
    if len(splits) != 3 or any(s < 0 for s in splits) or sum(splits) <= 0:
        raise ConfigError(
            f"splits must be three non-negative shares (train, valid, test), got {splits}"
        )
    unique = sorted(set(pieces))
    np.random.default_rng([int(seed), 0x5911]).shuffle(unique)
    n = len(unique)
    total = float(sum(splits))
    counts = [int(round(n * s / total)) for s in splits]
    if n >= 3:
        for k in (1, 2):
            if splits[k] > 0 and counts[k] == 0:
                counts[k] = 1
    counts[0] = max(n - counts[1] - counts[2], 0)
    while sum(counts) > n:  # only for tiny n: take from test, then valid
        k = 2 if counts[2] > 0 else 1
        counts[k] -= 1
    names = [s for s, c in zip(SPLITS, counts, strict=True) for _ in range(c)]
    return dict(zip(unique, names, strict=True))


def render_track(
    score: TrackScore, soundfont: str | os.PathLike, samplerate: int = 44100
) -> tuple[dict[str, np.ndarray], np.ndarray, float]:
    """Render every stem with its own fresh synth; one common gain so the mixture peaks at -1 dBFS.

    Returns `(stems, mixture, gain)`; the mixture is exactly the float32 sum of the returned stems.
    """
    stems = {
        name: remove_dc(render_parts(parts, score.seconds, soundfont, samplerate), samplerate)
        * np.float32(10 ** (score.gains_db.get(name, 0.0) / 20))
        for name, parts in score.stems.items()
    }
    raw = _sum(stems.values())
    peak = float(np.abs(raw).max())
    gain = 10 ** (PEAK_DBFS / 20) / peak if peak > 0 else 1.0
    stems = {k: (v * np.float32(gain)).astype(np.float32) for k, v in stems.items()}
    return stems, _sum(stems.values()), gain


def remove_dc(audio: np.ndarray, samplerate: int, cutoff_hz: float = 10.0) -> np.ndarray:
    """One-pole DC blocker per channel.

    Some GM presets (pads, claps) render with a DC offset of up to half the signal's RMS. Left in, it
    moves the per-track mean that demucs-style normalisation subtracts from every stem, so targets
    and separated estimates disagree by a constant; a 10 Hz high-pass removes it inaudibly.
    """
    from scipy.signal import lfilter

    r = float(np.exp(-2 * np.pi * cutoff_hz / samplerate))
    return lfilter([1.0, -1.0], [1.0, -r], audio, axis=-1).astype(np.float32)


def _sum(arrays) -> np.ndarray:
    arrays = list(arrays)
    out = np.zeros_like(arrays[0])
    for a in arrays:  # fixed order: the mixture is reproducible to the bit
        out += a
    return out


def notes_midi(score: TrackScore) -> bytes:
    """One named pretty_midi instrument per stem part (drum parts flagged as drums)."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    for stem, parts in score.stems.items():
        for part in parts:
            name = stem if len(parts) == 1 else f"{stem}:{part.name}"
            inst = pretty_midi.Instrument(program=part.program, is_drum=part.is_drum, name=name)
            inst.notes = [
                pretty_midi.Note(velocity=n.velocity, pitch=n.pitch, start=n.onset, end=n.offset)
                for n in part.notes
            ]
            pm.instruments.append(inst)
    buf = io.BytesIO()
    pm.write(buf)
    return buf.getvalue()


def render_dataset(
    recipe: str,
    out: str | os.PathLike,
    tracks: int,
    seed: int = 0,
    soundfont: str | os.PathLike | None = None,
    splits: tuple[float, float, float] = (0.8, 0.1, 0.1),
    samplerate: int = 44100,
    overwrite: bool = False,
    **recipe_params: Any,
) -> dict[str, Any]:
    """Render `tracks` tracks of `recipe` into `out`; returns the manifest (also written to disk).

    Recipe parameters (`seconds`, `bpm`, ...) override the recipe's DEFAULTS. The same arguments give
    the same bytes. Render speed goes to `<out>/render_log.json`, not the manifest, so that the
    manifest is reproducible too.
    """
    module = get_recipe(recipe)
    if tracks < 1:
        raise ConfigError(f"--tracks must be at least 1, got {tracks}")
    unknown = set(recipe_params) - set(module.DEFAULTS)
    if unknown:
        raise ConfigError(
            f"recipe {module.NAME} has no parameter {sorted(unknown)[0]!r}; "
            f"it takes {', '.join(sorted(module.DEFAULTS))}"
        )
    params = {**module.DEFAULTS, **{k: v for k, v in recipe_params.items() if v is not None}}
    sf2 = find_soundfont(soundfont)
    out = Path(out)
    _prepare_out(out, overwrite)

    info(
        f"render {tracks} {module.NAME} tracks (stems {', '.join(module.STEMS)}; seed {seed}; "
        f"{samplerate} Hz) with {sf2.name} -> {out}"
    )
    pieces = module.pieces(tracks, seed, params)
    split_of = assign_splits(pieces, splits, seed)
    entries, captions = [], []
    audio_seconds, started = 0.0, time.perf_counter()
    with progress_task(f"render {module.NAME}", tracks) as (bar, task):
        for index, piece in enumerate(pieces):
            score = module.compose(piece, index, seed, params)
            name = f"{index:04d}_{_safe(piece)}"
            folder = out / split_of[piece] / name
            stems, mixture, gain = render_track(score, sf2, samplerate)
            for stem, audio in stems.items():
                write_audio(folder / f"{stem}.wav", audio, samplerate)
            write_audio(folder / "mixture.wav", mixture, samplerate)
            write_json(folder / "notes.json", {"samplerate": samplerate, "stems": score.notes()})
            if score.caption:  # a caption sidecar for text-conditioned families (validated)
                meta = {**score.caption, "duration": round(score.seconds, 3)}
                parse_caption(meta, f"{module.NAME} caption")
                write_json(
                    folder / "mixture.json", {k: v for k, v in meta.items() if v is not None}
                )
                captions.append({**meta, "filename": f"{split_of[piece]}/{name}/mixture.wav"})
            write_bytes_atomic(folder / "notes.mid", notes_midi(score))
            entries.append(
                {
                    "track": name,
                    "split": split_of[piece],
                    "piece": piece,
                    "seconds": round(score.seconds, 6),
                    "gain": float(np.float32(gain)),
                    "params": score.params,
                }
            )
            audio_seconds += score.seconds
            elapsed = time.perf_counter() - started
            bar.update(
                task, advance=1, status=f"{audio_seconds / max(elapsed, 1e-9):.0f}x real time"
            )
    wall = time.perf_counter() - started
    manifest = {
        "recipe": module.NAME,
        "seed": seed,
        "stems": list(module.STEMS),
        "params": _jsonable(params),
        "samplerate": samplerate,
        "channels": 2,
        "splits": dict(zip(SPLITS, splits, strict=True)),
        "soundfont": {"file": sf2.name, "sha256": file_sha256(sf2)},
        "drum_bank": DRUM_BANK,
        "tracks": entries,
    }
    if captions:
        write_bytes_atomic(out / "captions.csv", captions_csv(captions))
    write_json(out / "manifest.json", manifest)
    stats = {
        "audio_seconds": round(audio_seconds, 3),
        "wall_seconds": round(wall, 3),
        "x_real_time": round(audio_seconds / max(wall, 1e-9), 2),
        "stems_rendered": len(module.STEMS) * tracks,
        # per synthesiser: seconds of stem audio per second of wall clock
        "stem_x_real_time": round(audio_seconds * len(module.STEMS) / max(wall, 1e-9), 2),
        "cpu_count": os.cpu_count(),
    }
    write_json(out / "render_log.json", stats)
    info(
        f"rendered {tracks} {module.NAME} tracks ({audio_seconds:.0f} s of audio, {len(module.STEMS)} stems) "
        f"in {wall:.1f} s = {stats['x_real_time']:.0f}x real time -> {out}"
    )
    return manifest


def captions_csv(rows: list[dict[str, Any]]) -> bytes:
    """`captions.csv`: CAPTION_COLUMNS, one row per mixture sorted by file name, empty cell = none."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CAPTION_COLUMNS)
    for row in sorted(rows, key=lambda r: r["filename"]):
        writer.writerow(["" if row.get(c) is None else row[c] for c in CAPTION_COLUMNS])
    return buf.getvalue().encode()


def _prepare_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: exists and is not a folder; pick another --out")
    if out.is_dir() and any(out.iterdir()):
        if not (out / "manifest.json").is_file():
            raise DataError(
                f"{out}: folder is not empty and holds no render; pick an empty or new --out"
            )
        if not overwrite:
            raise DataError(
                f"{out}: already holds a render (manifest.json); pass --overwrite to replace it"
            )
        for split in SPLITS:  # only what a previous render wrote
            shutil.rmtree(out / split, ignore_errors=True)
        (out / "captions.csv").unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)


def _safe(piece: str) -> str:
    return "".join(c if c.isalnum() or c in "-." else "-" for c in piece)


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=lambda o: o.item() if hasattr(o, "item") else str(o)))
