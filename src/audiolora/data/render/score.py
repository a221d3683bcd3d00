"""What a recipe produces before any audio exists: one track's stems as parts with notes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from .synth import Note, Part


@dataclass
class TrackScore:
    """One track to render: stems in recipe order, the piece it comes from (for splitting)."""

    piece: str
    seconds: float
    stems: dict[str, list[Part]]
    params: dict[str, Any] = field(default_factory=dict)
    caption: dict[str, Any] = field(
        default_factory=dict
    )  # sidecar fields (audiolora.data.captions)
    gains_db: dict[str, float] = field(default_factory=dict)  # per-stem mix level, 0 dB if absent

    def __post_init__(self) -> None:
        for parts in self.stems.values():
            for part in parts:
                part.notes = resolve_overlaps(part.notes)

    def notes(self) -> dict[str, list[list[float]]]:
        """`{stem: [[onset_s, offset_s, pitch, velocity], ...]}` sorted by onset, then pitch."""
        out: dict[str, list[list[float]]] = {}
        for stem, parts in self.stems.items():
            rows = [
                [round(n.onset, 6), round(n.offset, 6), n.pitch, n.velocity]
                for part in parts
                for n in part.notes
            ]
            out[stem] = sorted(rows, key=lambda r: (r[0], r[2], r[1]))
        return out


class Recipe(Protocol):
    """A recipe module: its name, stems, default parameters and a composer for track `index`."""

    NAME: str
    STEMS: tuple[str, ...]
    DEFAULTS: dict[str, Any]

    def pieces(self, tracks: int, seed: int, params: dict[str, Any]) -> list[str]: ...

    def compose(self, piece: str, index: int, seed: int, params: dict[str, Any]) -> TrackScore: ...


def track_rng(seed: int, index: int, salt: int = 0) -> np.random.Generator:
    """The random stream of one track: depends on (seed, index) only, never on global state."""
    return np.random.default_rng([int(seed), int(index), int(salt)])


def crop(notes: list[Note], seconds: float) -> list[Note]:
    """Drop notes starting at or after `seconds`; cut the rest at `seconds`."""
    return [
        Note(n.onset, min(n.offset, seconds), n.pitch, n.velocity)
        for n in notes
        if n.onset < seconds
    ]


def clamp_pitch(pitch: int, low: int = 0, high: int = 127) -> int:
    """Fold a pitch by octaves into [low, high]."""
    while pitch < low:
        pitch += 12
    while pitch > high:
        pitch -= 12
    return pitch


def resolve_overlaps(notes: list[Note]) -> list[Note]:
    """One sounding note per pitch, as the synth plays it: a note that starts while the same pitch
    still sounds cuts the earlier one at its onset; of two notes starting together the longer stays.
    The ground truth then matches the audio (FluidSynth releases a key struck again)."""
    by_pitch: dict[int, list[Note]] = {}
    for n in sorted(notes, key=lambda n: (n.pitch, n.onset, -n.offset)):
        same = by_pitch.setdefault(n.pitch, [])
        if same and same[-1].onset == n.onset:
            continue  # a duplicate strike: the longer note (sorted first) stays
        if same and same[-1].offset > n.onset:
            prev = same[-1]
            same[-1] = Note(prev.onset, n.onset, prev.pitch, prev.velocity)
        same.append(n)
    return sorted((n for v in by_pitch.values() for n in v), key=lambda n: (n.onset, n.pitch))


NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def instrument_name(program: int) -> str:
    """The General MIDI name of a program, lower case ("synth bass 1")."""
    import pretty_midi

    return pretty_midi.program_to_instrument_name(int(program)).lower()


def as_bass(program: int) -> str:
    """ "synth bass 1" stays as is, "lead 2 (sawtooth)" becomes "lead 2 (sawtooth) bass"."""
    name = instrument_name(program)
    return name if "bass" in name else f"{name} bass"
