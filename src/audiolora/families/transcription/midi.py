"""Note events -> a MIDI file with one named track per stem (pretty_midi), written atomically."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import pretty_midi

from .note_creation import NoteEvent

# General MIDI programs per usual stem name; anything else gets an electric piano like basic-pitch
PROGRAMS = {
    "bass": 32,
    "soprano": 52,
    "alto": 52,
    "tenor": 52,
    "vocals": 52,
    "other": 0,
    "piano": 0,
}
DEFAULT_PROGRAM = 4


def write_midi(
    tracks: Mapping[str, Sequence[NoteEvent]], path: str | Path, tempo: float = 120.0
) -> Path:
    """Write `{track name: notes}` as one instrument per track, named after the track."""
    path = Path(path)
    midi = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    for name, notes in tracks.items():
        inst = pretty_midi.Instrument(program=PROGRAMS.get(name, DEFAULT_PROGRAM), name=name)
        for n in sorted(notes, key=lambda n: (n.start, n.pitch)):
            inst.notes.append(
                pretty_midi.Note(
                    velocity=max(1, n.velocity), pitch=n.pitch, start=n.start, end=n.end
                )
            )
        midi.instruments.append(inst)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        midi.write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
