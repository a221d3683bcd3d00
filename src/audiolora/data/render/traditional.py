"""`traditional`: folk and traditional styles on the General MIDI ethnic programs.

Stems: melody (shakuhachi, sitar, shanai, fiddle, pan flute, ...), plucked (a koto, shamisen, banjo,
kalimba or sitar ostinato), drone (tonic and fifth, held on bagpipe / shanai / fiddle / pan flute or
restruck like a tanpura) and percussion (taiko and GM hand percussion). Melodies walk pentatonic,
modal and raga-like scales in irregular or compound meters (5/4, 7/8, 9/8, 10/8, 11/8, 6/8, 12/8),
phrased by the meter's grouping (7/8 = 2+2+3). One of six styles per track, drawn in a balanced
order; every track is its own piece.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import ConfigError
from .score import NOTE_NAMES, TrackScore, crop, instrument_name, track_rng
from .synth import Note, Part

NAME = "traditional"
STEMS = ("melody", "plucked", "drone", "percussion")

SITAR, BANJO, SHAMISEN, KOTO, KALIMBA, BAGPIPE, FIDDLE, SHANAI = range(104, 112)
SHAKUHACHI, PAN_FLUTE, TAIKO = 77, 75, 116
PROGRAMS = (SITAR, BANJO, SHAMISEN, KOTO, KALIMBA, BAGPIPE, FIDDLE, SHANAI, SHAKUHACHI, PAN_FLUTE)
PROGRAMS += (TAIKO,)
SUSTAINED = {BAGPIPE, SHANAI, FIDDLE, PAN_FLUTE, SHAKUHACHI}  # held drones; the others restrike
# Register (lowest, highest MIDI pitch) each program plays its melody or ostinato in.
REGISTER = {
    SITAR: (52, 79),
    BANJO: (55, 79),
    SHAMISEN: (50, 74),
    KOTO: (55, 81),
    KALIMBA: (60, 84),
    BAGPIPE: (67, 81),
    FIDDLE: (62, 88),
    SHANAI: (60, 84),
    SHAKUHACHI: (62, 86),
    PAN_FLUTE: (67, 91),
}

# Scales: semitones above the tonic and the quality of the tonic triad (captions say major/minor).
SCALES: dict[str, tuple[tuple[int, ...], str]] = {
    "major pentatonic": ((0, 2, 4, 7, 9), "major"),
    "minor pentatonic": ((0, 3, 5, 7, 10), "minor"),
    "hirajoshi": ((0, 2, 3, 7, 8), "minor"),
    "miyako-bushi": ((0, 1, 5, 7, 8), "minor"),  # the "in" scale
    "yo": ((0, 2, 5, 7, 9), "major"),
    "dorian": ((0, 2, 3, 5, 7, 9, 10), "minor"),
    "mixolydian": ((0, 2, 4, 5, 7, 9, 10), "major"),
    "phrygian": ((0, 1, 3, 5, 7, 8, 10), "minor"),
    "phrygian dominant": ((0, 1, 4, 5, 7, 8, 10), "major"),
    "bhairav": ((0, 1, 4, 5, 7, 8, 11), "major"),
    "yaman": ((0, 2, 4, 6, 7, 9, 11), "major"),
}
# Meters: groupings of the bar in units of the denominator (7/8 as 2+2+3 or 3+2+2 eighths).
METERS: dict[str, tuple[tuple[int, ...], ...]] = {
    "5/4": ((3, 2), (2, 3)),
    "7/8": ((2, 2, 3), (3, 2, 2)),
    "9/8": ((2, 2, 2, 3), (3, 3, 3)),
    "10/8": ((2, 3, 2, 3),),
    "11/8": ((2, 2, 3, 2, 2),),
    "6/8": ((3, 3),),
    "12/8": ((3, 3, 3, 3),),
}
# GM drum-kit keys: bongos, congas, timbales, bells, shakers, wood blocks.
HI_BONGO, LOW_BONGO, MUTE_CONGA, OPEN_CONGA, LOW_CONGA = 60, 61, 62, 63, 64
TAMBOURINE, COWBELL, HI_AGOGO, LOW_AGOGO, CABASA, MARACAS = 54, 56, 67, 68, 69, 70
CLAVES, HI_WOOD, LOW_WOOD, OPEN_TRIANGLE = 75, 76, 77, 81
HAND_KITS = [0, 8]  # standard, room


@dataclass(frozen=True)
class Style:
    """What one tradition draws from: programs per stem, hand percussion keys, scales, meters."""

    genre: str
    label: str
    melody: tuple[int, ...]
    plucked: tuple[int, ...]
    drone: tuple[int, ...]
    taiko: float  # chance of a taiko part beside the hand percussion
    low: tuple[int, ...]  # hand drum on group starts
    high: tuple[int, ...]  # hand drum inside groups
    timeline: tuple[int, ...]  # bell / shaker / wood keeping the pulse
    scales: tuple[str, ...]
    meters: tuple[str, ...]
    bpm: tuple[float, float]  # quarter notes per minute


STYLES: dict[str, Style] = {
    "japanese": Style(
        "japanese traditional",
        "Japanese",
        (SHAKUHACHI,),
        (KOTO, SHAMISEN),
        (KOTO, SHAKUHACHI),
        0.9,
        (LOW_WOOD,),
        (HI_WOOD,),
        (HI_WOOD,),
        ("hirajoshi", "miyako-bushi", "yo"),
        ("5/4", "7/8", "6/8"),
        (60.0, 96.0),
    ),
    "indian": Style(
        "indian classical",
        "Indian",
        (SITAR, SHANAI),
        (SITAR,),
        (SITAR, SHANAI),
        0.0,
        (LOW_BONGO, LOW_CONGA),
        (HI_BONGO, MUTE_CONGA, OPEN_CONGA),
        (OPEN_TRIANGLE, CABASA),
        ("bhairav", "yaman", "dorian", "phrygian"),
        ("7/8", "10/8", "5/4"),
        (70.0, 110.0),
    ),
    "celtic": Style(
        "celtic folk",
        "Celtic",
        (FIDDLE, BAGPIPE),
        (BANJO,),
        (BAGPIPE, FIDDLE),
        0.0,
        (LOW_CONGA,),
        (MUTE_CONGA,),
        (TAMBOURINE,),
        ("mixolydian", "dorian", "major pentatonic"),
        ("6/8", "9/8", "5/4"),
        (90.0, 130.0),
    ),
    "andean": Style(
        "andean folk",
        "Andean",
        (PAN_FLUTE,),
        (BANJO, KALIMBA),
        (PAN_FLUTE, FIDDLE),
        0.4,
        (LOW_CONGA,),
        (OPEN_CONGA,),
        (MARACAS, CLAVES),
        ("minor pentatonic", "major pentatonic", "dorian"),
        ("6/8", "5/4", "7/8"),
        (80.0, 120.0),
    ),
    "west african": Style(
        "west african traditional",
        "West African",
        (KALIMBA, BANJO),
        (KALIMBA,),
        (KALIMBA, FIDDLE),
        0.5,
        (LOW_CONGA, LOW_BONGO),
        (OPEN_CONGA, MUTE_CONGA, HI_BONGO),
        (HI_AGOGO, LOW_AGOGO, CABASA),
        ("major pentatonic", "minor pentatonic"),
        ("12/8", "5/4", "7/8"),
        (90.0, 130.0),
    ),
    "balkan": Style(
        "balkan folk",
        "Balkan",
        (SHANAI, FIDDLE),
        (BANJO, SITAR),
        (BAGPIPE, SHANAI),
        0.3,
        (LOW_CONGA,),
        (HI_BONGO, LOW_BONGO),
        (TAMBOURINE,),
        ("phrygian dominant", "phrygian", "dorian"),
        ("7/8", "9/8", "11/8"),
        (90.0, 130.0),
    ),
}
DEFAULTS: dict[str, Any] = {
    "seconds": 30.0,
    "styles": list(STYLES),  # drawn in a balanced order: every style once per len(styles) tracks
    "bpm": None,  # [low, high] quarter notes per minute; None: each style's own range
}
# Rhythms of one group (in units): longer notes on group starts keep the meter audible.
GROUP_RHYTHMS = {2: ((2,), (1, 1), (2,)), 3: ((3,), (2, 1), (1, 2), (1, 1, 1))}


def pieces(tracks: int, seed: int, params: dict[str, Any]) -> list[str]:
    """Every track is its own piece."""
    return [f"trad{seed:x}-{i:04d}" for i in range(tracks)]


def _style_of(index: int, seed: int, names: list[str]) -> str:
    """Styles in a seed-drawn order, each once per round of len(names) tracks."""
    unknown = [n for n in names if n not in STYLES]
    if not names or unknown:
        raise ConfigError(
            f"traditional: unknown style {unknown[0] if unknown else '(none given)'!r}; "
            f"--set styles=[...] takes {', '.join(STYLES)}"
        )
    order = list(names)
    np.random.default_rng([int(seed), index // len(names), 0x7AD]).shuffle(order)
    return order[index % len(names)]


def scale_pitches(root: int, scale: str, low: int, high: int) -> list[int]:
    """Every pitch of `root` (0-11) `scale` in [low, high], ascending."""
    steps = SCALES[scale][0]
    return [p for p in range(low, high + 1) if (p - root) % 12 in steps]


def _melody(rng, pitches, root, grouping, unit, n_bars, program) -> list[Note]:
    """Two-bar motifs on the meter's groups, stepwise on the scale, in an A A' B A form, ending on
    the tonic. Sitar, shanai and shakuhachi add a grace note a step above some group starts."""
    tonics = [i for i, p in enumerate(pitches) if (p - root) % 12 == 0]
    home = tonics[len(tonics) // 2] if len(tonics) > 1 else tonics[0]

    def motif(start_idx: int) -> list[tuple[float, int, int, bool]]:
        """(start unit, length units, scale index, group start) over two bars."""
        events, idx, t = [], start_idx, 0
        for _ in range(2):
            for g in grouping:
                rhythm = GROUP_RHYTHMS[g][int(rng.integers(len(GROUP_RHYTHMS[g])))]
                for k, length in enumerate(rhythm):
                    step = int(rng.choice([-2, -1, -1, 0, 1, 1, 2]))
                    idx = int(np.clip(idx + step, 0, len(pitches) - 1))
                    if k > 0 and rng.random() < 0.1:
                        t += length  # a rest inside a group
                        continue
                    events.append((t, length, idx, k == 0))
                    t += length
        return events

    a = motif(home)
    a2 = a[:-2] + [(t, n, min(i + 1, len(pitches) - 1), s) for t, n, i, s in a[-2:]]
    b = motif(min(home + 2, len(pitches) - 1))
    form = [a, a2, b, a]
    bar_units = sum(grouping)
    notes = []
    ornament = program in (SITAR, SHANAI, SHAKUHACHI)
    for phrase in range((n_bars + 1) // 2):
        events = form[phrase % len(form)]
        last_phrase = phrase == (n_bars + 1) // 2 - 1
        for j, (t, length, idx, start) in enumerate(events):
            if last_phrase and j == len(events) - 1:
                idx = home  # end on the tonic
            onset = (phrase * 2 * bar_units + t) * unit
            pitch = pitches[idx]
            vel = int(np.clip((96 if start else 78) + rng.integers(-6, 7), 1, 127))
            if ornament and start and idx + 1 < len(pitches) and rng.random() < 0.3:
                grace = max(onset - 0.06, 0.0)
                if grace < onset:
                    notes.append(Note(grace, onset, pitches[idx + 1], vel - 10))
            notes.append(Note(onset, onset + length * unit * 0.92, pitch, vel))
    return notes


def _ostinato(rng, pitches, root, grouping, unit, n_bars) -> list[Note]:
    """A one-bar pattern plucked on every unit, tonic or fifth on group starts; every fourth bar
    varies its second half."""
    low = [p for p in pitches if (p - root) % 12 in (0, 7)][:3] or pitches[:1]
    inner = pitches[: max(len(pitches) * 2 // 3, 1)]
    pattern, variant = [], []
    for g in grouping:
        for k in range(g):
            pick = low[int(rng.integers(len(low)))] if k == 0 else int(rng.choice(inner))
            pattern.append((pick, k == 0))
            variant.append((pick if k == 0 else int(rng.choice(inner)), k == 0))
    bar_units = sum(grouping)
    notes = []
    for bar in range(n_bars):
        use = variant if bar % 4 == 3 else pattern
        for u, (pitch, start) in enumerate(use):
            onset = (bar * bar_units + u) * unit
            vel = int(np.clip((92 if start else 70) + rng.integers(-6, 7), 1, 127))
            notes.append(Note(onset, onset + unit * 0.9, pitch, vel))
    return notes


def _drone(rng, root, grouping, unit, n_bars, program) -> list[Note]:
    """Tonic and fifth: held two bars at a time on a sustained program, else restruck on each
    group start in a tanpura-like fifth, octave, octave, tonic cycle."""
    tonic = root + 48
    bar_units = sum(grouping)
    notes = []
    if program in SUSTAINED:
        tonic = tonic + 12 if program == BAGPIPE else tonic  # the GM bagpipe's chanter range
        for bar in range(0, n_bars, 2):
            start, end = bar * bar_units * unit, (bar + 2) * bar_units * unit - 0.03
            notes += [Note(start, end, tonic, 72), Note(start, end, tonic + 7, 64)]
        return notes
    cycle = [tonic + 7, tonic + 12, tonic + 12, tonic]
    k = 0
    for bar in range(n_bars):
        t = 0
        for g in grouping:
            onset = (bar * bar_units + t) * unit
            vel = int(np.clip(70 + rng.integers(-5, 6), 1, 127))
            notes.append(Note(onset, onset + g * unit * 0.95, cycle[k % 4], vel))
            k, t = k + 1, t + g
    return notes


def _percussion(rng, style: Style, root, grouping, unit, n_bars, taiko: bool):
    """Hand drums: a low stroke on group starts, high strokes and a timeline inside; a taiko on
    the first beat of the bar and (softer) on the other group starts."""
    low = int(rng.choice(style.low))
    high = [int(k) for k in style.high]
    timeline = int(rng.choice(style.timeline))
    bar_units = sum(grouping)
    hand, drum = [], []
    for bar in range(n_bars):
        t = 0
        for gi, g in enumerate(grouping):
            for k in range(g):
                onset = (bar * bar_units + t + k) * unit
                end = onset + unit * 0.8
                jitter = int(rng.integers(-6, 7))
                if k == 0:
                    hand.append(Note(onset, end, low, int(np.clip(104 + jitter, 1, 127))))
                elif rng.random() < 0.75:
                    key = high[int(rng.integers(len(high)))]
                    hand.append(Note(onset, end, key, int(np.clip(80 + jitter, 1, 127))))
                hand.append(Note(onset, end, timeline, int(np.clip(60 + jitter, 1, 127))))
            if taiko:
                onset = (bar * bar_units + t) * unit
                vel = 118 if gi == 0 else 88
                drum.append(Note(onset, onset + g * unit * 0.9, root + 36, vel))
            t += g
    return hand, drum


def compose(piece: str, index: int, seed: int, params: dict[str, Any]) -> TrackScore:
    style_name = _style_of(index, seed, list(params["styles"]))
    style = STYLES[style_name]
    rng = track_rng(seed, index)
    root = int(rng.integers(0, 12))
    scale = str(rng.choice(style.scales))
    meter = str(rng.choice(style.meters))
    grouping = METERS[meter][int(rng.integers(len(METERS[meter])))]
    bpm_range = params["bpm"] or style.bpm
    lo, hi = (bpm_range, bpm_range) if np.isscalar(bpm_range) else bpm_range
    bpm = float(rng.uniform(lo, hi))
    programs = {
        "melody": int(rng.choice(style.melody)),
        "plucked": int(rng.choice(style.plucked)),
        "drone": int(rng.choice(style.drone)),
    }
    taiko = bool(rng.random() < style.taiko)
    kit = int(rng.choice(HAND_KITS))
    seconds = float(params["seconds"])
    denominator = int(meter.split("/")[1])
    unit = 60.0 / bpm * 4 / denominator  # seconds per 1/denominator note
    n_bars = int(np.ceil(seconds / (sum(grouping) * unit)))

    mel_lo, mel_hi = REGISTER[programs["melody"]]
    melody = _melody(
        rng,
        scale_pitches(root, scale, mel_lo, mel_hi),
        root,
        grouping,
        unit,
        n_bars,
        programs["melody"],
    )
    pl_lo, pl_hi = REGISTER[programs["plucked"]]
    pl_hi = min(pl_hi, pl_lo + 19)  # the ostinato stays below the melody's top
    plucked = _ostinato(rng, scale_pitches(root, scale, pl_lo, pl_hi), root, grouping, unit, n_bars)
    drone = _drone(rng, root, grouping, unit, n_bars, programs["drone"])
    hand, drum = _percussion(rng, style, root, grouping, unit, n_bars, taiko)
    percussion = [Part("hand", kit, crop(hand, seconds), is_drum=True, pan=70)]
    if taiko:
        programs["taiko"] = TAIKO
        percussion.insert(0, Part("taiko", TAIKO, crop(drum, seconds), pan=58))
    stems = {
        "melody": [Part("melody", programs["melody"], crop(melody, seconds), pan=66)],
        "plucked": [Part("plucked", programs["plucked"], crop(plucked, seconds), pan=50)],
        "drone": [Part("drone", programs["drone"], crop(drone, seconds), volume=80)],
        "percussion": percussion,
    }
    hand_keys = sorted({n.pitch for n in hand})
    instruments = [instrument_name(p) for p in programs.values()]
    percussion_names = [_drum_name(k) for k in hand_keys]
    drawn = {
        "style": style_name,
        "bpm": round(bpm, 3),
        "root": root,
        "scale": scale,
        "meter": meter,
        "grouping": list(grouping),
        "programs": programs,
        "kit": kit,
        "hand_keys": hand_keys,
        "instruments": instruments + percussion_names,
    }
    tonic = NOTE_NAMES[root]
    drum_text = ("taiko drum and " if taiko else "") + ", ".join(percussion_names)
    caption = {
        "caption": (
            f"traditional {style.label} piece in {tonic} {scale}, {meter} time "
            f"({'+'.join(map(str, grouping))}): {instrument_name(programs['melody'])} melody, "
            f"{instrument_name(programs['plucked'])} ostinato, "
            f"{instrument_name(programs['drone'])} drone, {drum_text}"
        ),
        "bpm": round(bpm, 2),
        "keyscale": f"{tonic} {SCALES[scale][1]}",
        "timesignature": meter,
        "genre": style.genre,
        "is_instrumental": True,
    }
    return TrackScore(piece, seconds, stems, drawn, caption)


def _drum_name(key: int) -> str:
    import pretty_midi

    return pretty_midi.note_number_to_drum_name(int(key)).lower()
