"""`pop4`: drums / bass / other / vocals songs (the released htdemucs source set).

Harmony comes from a Bach chorale: its bass voice becomes a bass line in 8th notes on a bass patch,
the inner voices an accompaniment (piano, guitar, organ or strings), the top voice a vocal-like
lead, and a procedural groove (rock, pop, funk, shuffle) plays on one of the soundfont's kits.
"""

from __future__ import annotations

from typing import Any

from . import chorales
from .drums import ACOUSTIC_KITS, groove_notes
from .score import TrackScore, as_bass, clamp_pitch, crop, instrument_name, track_rng
from .synth import Note, Part

NAME = "pop4"
STEMS = ("drums", "bass", "other", "vocals")
BASS_PROGRAMS = [33, 34, 32, 38]  # finger, pick, acoustic, synth bass 1
OTHER_PROGRAMS = [0, 4, 25, 27, 16, 19, 48, 49]  # pianos, guitars, organs, strings
VOCAL_PROGRAMS = [52, 53, 54, 85]  # choir aahs, voice oohs, synth voice, voice lead
DEFAULTS: dict[str, Any] = {
    "seconds": 30.0,  # song length; the chorale repeats to fill it
    "bpm": [92.0, 120.0],
    "transpose": [-2, 2],
    "grooves": ["rock", "pop", "funk", "shuffle"],
    "kits": ACOUSTIC_KITS,
}


def pieces(tracks: int, seed: int, params: dict[str, Any]) -> list[str]:
    return chorales.pieces(tracks, seed, params)


def _looped(
    chorale: chorales.Chorale, voice: str, bpm: float, transpose: int, seconds: float, rng
) -> list[Note]:
    one = chorales.voice_notes(chorale, voice, bpm, transpose, rng)
    period = chorale.length_ql * 60.0 / bpm
    notes, k = [], 0
    while k * period < seconds:
        notes += [
            Note(n.onset + k * period, n.offset + k * period, n.pitch, n.velocity) for n in one
        ]
        k += 1
    return crop(notes, seconds)


def _bass_line(notes: list[Note], bpm: float) -> list[Note]:
    """Each bass note restruck on every 8th note it spans, an octave down for a bass patch."""
    eighth = 30.0 / bpm
    out = []
    for n in notes:
        t = n.onset
        pitch = clamp_pitch(n.pitch - 12, 28, 60)
        while t < n.offset - 1e-6:
            end = min(t + 0.9 * eighth, n.offset)
            vel = 100 if abs(t - n.onset) < 1e-6 else 82
            out.append(Note(t, end, pitch, vel))
            t += eighth
    return out


def compose(piece: str, index: int, seed: int, params: dict[str, Any]) -> TrackScore:
    rng = track_rng(seed, index)
    chorale = chorales.load_chorale(piece)
    bpm = chorales.draw(params["bpm"], rng)
    transpose = chorales.draw(params["transpose"], rng, integer=True)
    groove = str(rng.choice(params["grooves"]))
    kit = int(rng.choice(params["kits"]))
    programs = {
        "bass": int(rng.choice(BASS_PROGRAMS)),
        "other": int(rng.choice(OTHER_PROGRAMS)),
        "vocals": int(rng.choice(VOCAL_PROGRAMS)),
    }
    seconds = float(params["seconds"])
    spb = 60.0 / bpm
    bar_seconds = 4 * spb  # the grooves are one 4/4 bar long
    start = chorale.pickup_ql * spb
    voice = {v: _looped(chorale, v, bpm, transpose, seconds, rng) for v in chorales.VOICES}
    stems = {
        "drums": [
            Part("drums", kit, groove_notes(groove, start, seconds, bar_seconds, rng), is_drum=True)
        ],
        "bass": [Part("bass", programs["bass"], _bass_line(voice["bass"], bpm))],
        "other": [
            Part(
                "other",
                programs["other"],
                sorted(voice["alto"] + voice["tenor"], key=lambda n: n.onset),
                pan=58,
            ),
        ],
        "vocals": [Part("vocals", programs["vocals"], voice["soprano"], pan=66)],
    }
    drawn = {
        "bpm": round(bpm, 3),
        "transpose": transpose,
        "groove": groove,
        "kit": kit,
        "programs": programs,
    }
    caption = {
        "caption": (
            f"pop song with a {groove} drum groove on the harmony of Bach's chorale {piece}: "
            f"{as_bass(programs['bass'])}, {instrument_name(programs['other'])}, "
            f"lead melody on {instrument_name(programs['vocals'])}"
        ),
        "bpm": round(bpm, 2),
        "keyscale": chorales.estimate_key(voice["soprano"] + voice["bass"]),
        "timesignature": "4/4",
        "genre": "pop",
        "is_instrumental": True,
    }
    return TrackScore(piece, seconds, stems, drawn, caption)
