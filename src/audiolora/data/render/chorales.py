"""`chorales`: the Bach chorales of music21's corpus as soprano/alto/tenor/bass stems."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import DataError
from .score import NOTE_NAMES, TrackScore, clamp_pitch, crop, instrument_name, track_rng
from .synth import Note, Part

NAME = "chorales"
STEMS = ("soprano", "alto", "tenor", "bass")
VOICES = STEMS
# Bach10-like defaults: violin, clarinet, tenor sax, bassoon (GM programs, 0-based).
DEFAULT_INSTRUMENTS = {"soprano": 40, "alto": 71, "tenor": 66, "bass": 70}
# Instruments a swap may draw, per voice (range-appropriate GM programs).
SWAPS = {
    "soprano": [40, 73, 68, 56],  # violin, flute, oboe, trumpet
    "alto": [71, 41, 69, 65],  # clarinet, viola, english horn, alto sax
    "tenor": [66, 42, 57, 60],  # tenor sax, cello, trombone, french horn
    "bass": [70, 42, 58, 32],  # bassoon, cello, tuba, acoustic bass
}
DEFAULTS: dict[str, Any] = {
    "seconds": None,  # crop each piece to this length (None: whole piece + 1 s tail)
    "bpm": [72.0, 88.0],  # tempo drawn per track, quarter notes per minute
    "transpose": [-2, 2],  # semitones drawn per track (inclusive)
    "instruments": DEFAULT_INSTRUMENTS,
    "swap_probability": 0.3,  # chance per voice of an instrument drawn from SWAPS instead
    "tail": 1.0,
}


@dataclass(frozen=True)
class Chorale:
    """A four-part chorale in quarter-note units."""

    name: str
    voices: dict[str, list[tuple[float, float, int]]]  # voice -> (onset_ql, duration_ql, midi)
    length_ql: float
    bar_ql: float
    pickup_ql: float  # length of the anacrusis (0 when the piece starts on a downbeat)


@lru_cache(maxsize=1)
def chorale_files() -> dict[str, Path]:
    """Bach scores in music21's corpus by name (`bwv1.6`), MusicXML preferred over Humdrum.

    Not all are four-part SATB chorales; `load_chorale` tells.
    """
    from music21 import corpus

    files: dict[str, Path] = {}
    rank = {".mxl": 0, ".xml": 1, ".krn": 2}
    for path in sorted(corpus.getComposer("bach"), key=lambda p: (p.stem, rank.get(p.suffix, 9))):
        if path.suffix in rank and path.stem not in files:
            files[path.stem] = Path(path)
    if not files:
        raise DataError(
            "music21's corpus has no Bach chorales; reinstall music21 (pip install music21)"
        )
    return files


def chorale_names() -> tuple[str, ...]:
    return tuple(sorted(chorale_files()))


@lru_cache(maxsize=1024)  # note tuples only: the whole corpus is a few MB
def load_chorale(name: str) -> Chorale | None:
    """Parse one chorale; None when it cannot be parsed or lacks one of the four SATB parts."""
    from music21 import converter

    path = chorale_files().get(name)
    if path is None:
        raise DataError(f"no Bach chorale named {name!r} in music21's corpus")
    try:
        score = converter.parse(path)
    except Exception:  # a corpus file music21 itself cannot read: skip it
        return None
    if not hasattr(score, "parts"):
        return None
    voices: dict[str, list[tuple[float, float, int]]] = {}
    for part in score.parts:
        label = (part.partName or "").strip().lower()
        if label in VOICES and label not in voices:
            flat = part.flatten().stripTies()
            voices[label] = [
                (float(n.offset), float(n.quarterLength), int(p.midi))
                for n in flat.notes
                for p in n.pitches
                if n.quarterLength > 0
            ]
    if set(voices) != set(VOICES) or not all(voices.values()):
        return None
    first = score.parts[0].getElementsByClass("Measure")
    sigs = score.recurse().getElementsByClass("TimeSignature")
    bar = float(sigs[0].barDuration.quarterLength) if sigs else 4.0
    pickup = 0.0
    if first and first[0].paddingLeft:
        pickup = float(first[0].duration.quarterLength)
    length = max(o + d for v in voices.values() for o, d, _ in v)
    return Chorale(name, voices, length, bar, pickup)


def work_id(name: str) -> str:
    """The work a corpus file belongs to: variant suffixes dropped (`bwv248.64-s` -> `bwv248.64`)."""
    match = re.match(r"bwv\d+(\.\d+)?", name)
    return match.group(0) if match else name


def fingerprint(chorale: Chorale) -> tuple:
    """The notes of all four voices, relative to the first soprano pitch (transposition-free)."""
    ref = chorale.voices["soprano"][0][2]
    return tuple(tuple((o, d, m - ref) for o, d, m in chorale.voices[v]) for v in VOICES)


def select_chorales(count: int, seed: int) -> list[Chorale]:
    """`count` distinct SATB chorales in an order drawn from `seed` (fewer if the corpus runs out).

    Distinct means: no two variants of one work, and no two files with the same notes (the corpus
    holds a few duplicates), so that no music can land in two splits.
    """
    names = list(chorale_names())
    np.random.default_rng([int(seed), 0xC0DA]).shuffle(names)
    picked: list[Chorale] = []
    works: set[str] = set()
    prints: set[tuple] = set()
    for name in names:
        if work_id(name) in works:
            continue
        chorale = load_chorale(name)
        if chorale is None or fingerprint(chorale) in prints:
            continue
        works.add(work_id(name))
        prints.add(fingerprint(chorale))
        picked.append(chorale)
        if len(picked) == count:
            break
    return picked


def pieces(tracks: int, seed: int, params: dict[str, Any]) -> list[str]:
    """One chorale per track; pieces repeat (with fresh draws) only past the corpus size."""
    chosen = [c.name for c in select_chorales(tracks, seed)]
    if not chosen:
        raise DataError("no four-part chorale found in music21's corpus")
    return [chosen[i % len(chosen)] for i in range(tracks)]


def draw(lo_hi, rng: np.random.Generator, integer: bool = False):
    lo, hi = (lo_hi, lo_hi) if np.isscalar(lo_hi) else lo_hi
    return int(rng.integers(lo, hi + 1)) if integer else float(rng.uniform(lo, hi))


def voice_notes(
    chorale: Chorale, voice: str, bpm: float, transpose: int, rng: np.random.Generator
) -> list[Note]:
    """A voice's notes in seconds, transposed, with slightly varied velocities and a small gap."""
    spb = 60.0 / bpm
    out = []
    for onset, dur, midi in chorale.voices[voice]:
        start = onset * spb
        end = (onset + dur) * spb - min(0.03, 0.1 * dur * spb)  # a breath between repeated notes
        vel = int(np.clip(round(rng.normal(84, 6)), 40, 120))
        out.append(Note(start, max(end, start + 0.01), clamp_pitch(midi + transpose, 21, 108), vel))
    return out


# Krumhansl-Kessler key profiles (C major, C minor), indexed by pitch class.
KEY_PROFILES = {
    "major": (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88),
    "minor": (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17),
}


def estimate_key(notes: list[Note]) -> str | None:
    """The key of some notes ("G major"): the duration-weighted pitch-class histogram's best
    correlation with a rotated Krumhansl-Kessler profile (None without notes)."""
    hist = np.zeros(12)
    for n in notes:
        hist[n.pitch % 12] += n.offset - n.onset
    if not hist.any():
        return None
    best, name = -np.inf, None
    for quality, profile in KEY_PROFILES.items():
        for tonic in range(12):
            r = float(np.corrcoef(hist, np.roll(profile, tonic))[0, 1])
            if r > best:
                best, name = r, f"{NOTE_NAMES[tonic]} {quality}"
    return name


def compose(piece: str, index: int, seed: int, params: dict[str, Any]) -> TrackScore:
    rng = track_rng(seed, index)
    chorale = load_chorale(piece)
    if chorale is None:
        raise DataError(f"chorale {piece} has no SATB parts")
    bpm = draw(params["bpm"], rng)
    transpose = draw(params["transpose"], rng, integer=True)
    instruments = {**DEFAULT_INSTRUMENTS, **(params.get("instruments") or {})}
    programs = {}
    for voice in VOICES:
        swap = rng.random() < float(params["swap_probability"])
        choice = int(rng.choice(SWAPS[voice]))
        programs[voice] = choice if swap else int(instruments[voice])
    full = chorale.length_ql * 60.0 / bpm + float(params["tail"])
    seconds = min(full, float(params["seconds"])) if params.get("seconds") else full
    pans = {"soprano": 44, "alto": 56, "tenor": 72, "bass": 84}
    stems = {
        v: [
            Part(
                v,
                programs[v],
                crop(voice_notes(chorale, v, bpm, transpose, rng), seconds),
                pan=pans[v],
            )
        ]
        for v in VOICES
    }
    drawn = {"bpm": round(bpm, 3), "transpose": transpose, "programs": programs}
    beats = chorale.bar_ql
    caption = {
        "caption": f"Bach chorale {piece} for "
        + ", ".join(f"{instrument_name(programs[v])} ({v})" for v in VOICES),
        "bpm": round(bpm, 2),
        "keyscale": estimate_key([n for parts in stems.values() for p in parts for n in p.notes]),
        "timesignature": f"{int(beats)}/4" if beats == int(beats) else None,
        "genre": "baroque chorale",
        "is_instrumental": True,
    }
    return TrackScore(piece, seconds, stems, drawn, caption)
