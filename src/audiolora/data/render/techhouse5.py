"""`techhouse5`: tech-house loops at 120-128 bpm with swing.

Stems: other (pad chords + clap on 2 and 4), kick (four on the floor), vocals (a lead phrase or a
choir), bass (off-beat synth bass) and hihat (off-beat closed/open hats plus ghost 16ths). Kick and
hihat come from kits drawn among the soundfont's and are rendered as separate stems.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .drums import CLAP, CLOSED_HAT, ELECTRONIC_KITS, KICK, OPEN_HAT
from .score import NOTE_NAMES, TrackScore, as_bass, crop, instrument_name, track_rng
from .synth import Note, Part

NAME = "techhouse5"
STEMS = ("other", "kick", "vocals", "bass", "hihat")
PAD_PROGRAMS = [88, 89, 90, 91, 94, 50]  # new age, warm, polysynth, choir pad, halo, synth strings
BASS_PROGRAMS = [38, 39, 87, 81]  # synth bass 1/2, bass+lead, saw lead
LEAD_PROGRAMS = [85, 80, 54]  # voice lead, square lead, synth voice
CHOIR_PROGRAMS = [52, 53]  # choir aahs, voice oohs
# Minor-key progressions as scale degrees of the natural minor (0 = tonic), one chord per bar.
PROGRESSIONS = [[0, 5, 2, 6], [0, 3, 4, 0], [0, 6, 5, 6], [0, 0, 5, 3], [0, 3, 0, 4]]
MINOR = [0, 2, 3, 5, 7, 8, 10]
DEFAULTS: dict[str, Any] = {
    "seconds": 30.0,
    "bpm": [120.0, 128.0],
    "swing": [0.0, 0.12],  # delay of every off 16th, as a fraction of a 16th note
    "kits": ELECTRONIC_KITS,
    "choir_probability": 0.4,
    "hihat_gain_db": 0.0,
}


def pieces(tracks: int, seed: int, params: dict[str, Any]) -> list[str]:
    """Every loop is its own piece."""
    return [f"loop{seed:x}-{i:04d}" for i in range(tracks)]


def _chord(root: int, degree: int) -> list[int]:
    """Triad on a scale degree of `root` minor, as MIDI pitches around C4."""
    return [root + 48 + MINOR[(degree + k) % 7] + 12 * ((degree + k) // 7) for k in (0, 2, 4)]


def compose(piece: str, index: int, seed: int, params: dict[str, Any]) -> TrackScore:
    rng = track_rng(seed, index)
    lo, hi = params["bpm"]
    bpm = float(rng.uniform(lo, hi))
    swing = float(rng.uniform(*params["swing"]))
    root = int(rng.integers(0, 12))
    progression = PROGRESSIONS[int(rng.integers(len(PROGRESSIONS)))]
    kick_kit, hat_kit, clap_kit = (int(rng.choice(params["kits"])) for _ in range(3))
    choir = bool(rng.random() < float(params["choir_probability"]))
    programs = {
        "pad": int(rng.choice(PAD_PROGRAMS)),
        "bass": int(rng.choice(BASS_PROGRAMS)),
        "vocals": int(rng.choice(CHOIR_PROGRAMS if choir else LEAD_PROGRAMS)),
    }
    seconds = float(params["seconds"])
    beat = 60.0 / bpm
    sixteenth = beat / 4

    def at(bar: int, step: int) -> float:
        """Time of 16th `step` in `bar`, off 16ths delayed by the swing."""
        return bar * 4 * beat + step * sixteenth + (swing * sixteenth if step % 2 else 0.0)

    def vel(v: int) -> int:
        return int(np.clip(v + rng.integers(-6, 7), 1, 127))

    n_bars = int(np.ceil(seconds / (4 * beat)))
    kick, hats, clap, pad, bass, vocal = [], [], [], [], [], []
    for bar in range(n_bars):
        chord = _chord(root, progression[bar % len(progression)])
        for step in range(16):
            t = at(bar, step)
            if step % 4 == 0:
                kick.append(Note(t, t + 0.2, KICK, vel(118)))
            if step in (4, 12):
                clap.append(Note(t, t + 0.2, CLAP, vel(100)))
            if step % 4 == 2:  # off-beat hats, the last one of the bar open
                key = OPEN_HAT if step == 14 and bar % 2 else CLOSED_HAT
                hats.append(Note(t, t + sixteenth * 1.5, key, vel(96)))
                bass.append(Note(t, t + sixteenth * 1.6, chord[0] - 12, vel(104)))
            elif step % 2 == 1 and rng.random() < 0.6:  # ghost 16ths
                hats.append(Note(t, t + sixteenth * 0.8, CLOSED_HAT, vel(40)))
        start, end = at(bar, 0), at(bar + 1, 0) - 0.02
        pad += [Note(start, end, p, vel(70)) for p in chord]
        if choir:
            if bar % 2 == 0:
                two = at(bar + 2, 0) - 0.05
                vocal += [Note(start, two, p + 12, vel(80)) for p in chord[1:]]
        else:  # a lead phrase of chord tones in 8ths and quarters, resting every other bar half
            step = 0
            while step < (16 if bar % 2 == 0 else 8):
                length = int(rng.choice([2, 2, 4]))
                if rng.random() < 0.8:
                    p = int(rng.choice(chord)) + 12
                    vocal.append(
                        Note(at(bar, step), at(bar, step) + length * sixteenth * 0.9, p, vel(92))
                    )
                step += length

    stems = {
        "other": [
            Part("pad", programs["pad"], crop(pad, seconds), pan=60),
            Part("clap", clap_kit, crop(clap, seconds), is_drum=True),
        ],
        "kick": [Part("kick", kick_kit, crop(kick, seconds), is_drum=True)],
        "vocals": [Part("vocals", programs["vocals"], crop(vocal, seconds), pan=68)],
        "bass": [Part("bass", programs["bass"], crop(bass, seconds))],
        "hihat": [Part("hihat", hat_kit, crop(hats, seconds), is_drum=True, pan=76)],
    }
    drawn = {
        "bpm": round(bpm, 3),
        "swing": round(swing, 4),
        "key": root,
        "progression": progression,
        "kits": {"kick": kick_kit, "hihat": hat_kit, "clap": clap_kit},
        "vocal_style": "choir" if choir else "lead",
        "programs": programs,
    }
    key = f"{NOTE_NAMES[root]} minor"
    caption = {
        "caption": (
            f"tech house loop in {key}, four-on-the-floor kick, off-beat hats, "
            f"{as_bass(programs['bass'])}, {instrument_name(programs['pad'])} chords, "
            f"{'choir' if choir else 'lead'} on {instrument_name(programs['vocals'])}"
        ),
        "bpm": round(bpm, 2),
        "keyscale": key,
        "timesignature": "4/4",
        "genre": "tech house",
        "is_instrumental": True,
    }
    gains = {"hihat": float(params["hihat_gain_db"])}
    return TrackScore(piece, seconds, stems, drawn, caption, gains)
