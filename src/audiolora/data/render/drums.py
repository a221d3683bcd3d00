"""Procedural drum grooves on General MIDI percussion keys (used by pop4 and techhouse5)."""

from __future__ import annotations

import numpy as np

from .synth import Note

KICK, SIDE_STICK, SNARE, CLAP = 36, 37, 38, 39
CLOSED_HAT, PEDAL_HAT, OPEN_HAT = 42, 44, 46
CRASH, RIDE = 49, 51

# GM drum kits (bank 128 programs) in FluidR3_GM and most GM soundfonts.
ACOUSTIC_KITS = [0, 8, 16, 32]  # standard, room, power, jazz
ELECTRONIC_KITS = [24, 25, 0, 16]  # electronic, TR-808, standard, power

# A groove: steps per bar and, per key, (step, velocity) hits. 16 steps = 16th notes in 4/4;
# the shuffle has 12 steps (8th-note triplets).
GROOVES: dict[str, tuple[int, dict[int, list[tuple[int, int]]]]] = {
    "rock": (
        16,
        {
            KICK: [(0, 110), (8, 105), (10, 90)],
            SNARE: [(4, 110), (12, 112)],
            CLOSED_HAT: [(s, 90 if s % 4 == 0 else 70) for s in range(0, 16, 2)],
        },
    ),
    "pop": (
        16,
        {
            KICK: [(0, 110), (6, 95), (8, 105)],
            SNARE: [(4, 105), (12, 108)],
            CLOSED_HAT: [(s, 85 if s % 2 == 0 else 55) for s in range(16)],
        },
    ),
    "funk": (
        16,
        {
            KICK: [(0, 112), (3, 90), (10, 100)],
            SNARE: [(4, 110), (7, 45), (9, 40), (12, 110), (15, 45)],
            CLOSED_HAT: [(s, 80 if s % 2 == 0 else 50) for s in range(16) if s != 14],
            OPEN_HAT: [(14, 80)],
        },
    ),
    "shuffle": (
        12,
        {
            KICK: [(0, 110), (6, 100), (8, 80)],
            SNARE: [(3, 108), (9, 110)],
            RIDE: [(s, 85 if s % 3 == 0 else 60) for s in range(12) if s % 3 != 1],
        },
    ),
}


def groove_notes(
    groove: str,
    start: float,
    end: float,
    bar_seconds: float,
    rng: np.random.Generator,
    crash_every: int = 4,
) -> list[Note]:
    """Repeat `groove` bar by bar from `start` until `end`, with humanised velocities and a crash
    on the first beat of every `crash_every` bars."""
    steps, hits = GROOVES[groove]
    step_s = bar_seconds / steps
    notes: list[Note] = []
    bar = 0
    while start + bar * bar_seconds < end:
        t0 = start + bar * bar_seconds
        if crash_every and bar % crash_every == 0:
            notes.append(Note(t0, t0 + 0.5, CRASH, 100))
        for key, pattern in hits.items():
            for step, vel in pattern:
                t = t0 + step * step_s
                if t < end:
                    v = int(np.clip(vel + rng.integers(-8, 9), 1, 127))
                    notes.append(Note(t, t + 0.9 * step_s, key, v))
        bar += 1
    return sorted(notes, key=lambda n: (n.onset, n.pitch))
