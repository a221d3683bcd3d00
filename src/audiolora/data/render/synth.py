"""Float-output FluidSynth rendering through ctypes.

Why not pyfluidsynth: it only returns 16-bit dithered samples. libfluidsynth's own
`fluid_synth_write_float` gives the synthesiser's float output directly; a fresh synth per stem makes
renders bit-identical (reusing one synth does not, even after a reset), and dynamic sample loading
only reads the samples of the presets a stem actually selects.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from ...errors import DataError

DEFAULT_SOUNDFONTS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
)
DRUM_CHANNEL = 9
DRUM_BANK = 128


@dataclass(frozen=True)
class Note:
    """One note: times in seconds, MIDI pitch (GM key for drums), velocity 1..127."""

    onset: float
    offset: float
    pitch: int
    velocity: int


@dataclass
class Part:
    """Notes played by one instrument (a GM program, or a drum kit when `is_drum`)."""

    name: str
    program: int
    notes: list[Note] = field(default_factory=list)
    is_drum: bool = False
    pan: int = 64  # MIDI CC10, 0 = left, 127 = right
    volume: int = 100  # MIDI CC7


@lru_cache(maxsize=1)
def _lib() -> ctypes.CDLL:
    name = ctypes.util.find_library("fluidsynth") or "libfluidsynth.so.3"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        raise DataError(
            "libfluidsynth not found; install it (Debian/Ubuntu: apt-get install libfluidsynth3)"
        ) from None
    vp, cp, i, d = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_double
    sigs = {
        "new_fluid_settings": ([], vp),
        "delete_fluid_settings": ([vp], None),
        "fluid_settings_setnum": ([vp, cp, d], i),
        "fluid_settings_setint": ([vp, cp, i], i),
        "new_fluid_synth": ([vp], vp),
        "delete_fluid_synth": ([vp], None),
        "fluid_synth_sfload": ([vp, cp, i], i),
        "fluid_synth_program_select": ([vp, i, i, i, i], i),
        "fluid_synth_noteon": ([vp, i, i, i], i),
        "fluid_synth_noteoff": ([vp, i, i], i),
        "fluid_synth_cc": ([vp, i, i, i], i),
        "fluid_synth_write_float": ([vp, i, vp, i, i, vp, i, i], i),
        "fluid_synth_get_sfont_by_id": ([vp, i], vp),
        "fluid_sfont_get_preset": ([vp, i, i], vp),
        "fluid_preset_get_name": ([vp], cp),
        "fluid_set_log_function": ([i, vp, vp], vp),
    }
    for fn, (args, res) in sigs.items():
        f = getattr(lib, fn)
        f.argtypes, f.restype = args, res
    for level in range(5):  # silence libfluidsynth's own console logging; we report errors
        lib.fluid_set_log_function(level, None, None)
    return lib


def find_soundfont(path: str | os.PathLike | None = None) -> Path:
    """The soundfont to use: `path` when given, else Debian's FluidR3_GM, else pretty_midi's TimGM6mb."""
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise DataError(
                f"{p}: soundfont not found; pass an existing .sf2 file with --soundfont"
            )
        return p
    candidates = [Path(c) for c in DEFAULT_SOUNDFONTS]
    try:
        import pretty_midi

        candidates.append(Path(pretty_midi.__file__).parent / "TimGM6mb.sf2")
    except ImportError:
        pass
    for c in candidates:
        if c.is_file():
            return c
    raise DataError(
        "no General MIDI soundfont found; install fluid-soundfont-gm (apt) or pass --soundfont FILE.sf2"
    )


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Synth:
    """One fresh FluidSynth instance with one soundfont loaded. Use as a context manager."""

    def __init__(self, soundfont: str | os.PathLike, samplerate: int = 44100, reverb: bool = True):
        self.lib = _lib()
        self.samplerate = int(samplerate)
        self.settings = self.lib.new_fluid_settings()
        self.lib.fluid_settings_setnum(self.settings, b"synth.sample-rate", float(samplerate))
        self.lib.fluid_settings_setint(self.settings, b"synth.dynamic-sample-loading", 1)
        self.lib.fluid_settings_setint(self.settings, b"synth.reverb.active", int(reverb))
        self.lib.fluid_settings_setint(self.settings, b"synth.chorus.active", 0)
        self.lib.fluid_settings_setint(self.settings, b"synth.cpu-cores", 1)
        self.lib.fluid_settings_setint(self.settings, b"synth.polyphony", 256)
        self.synth = self.lib.new_fluid_synth(self.settings)
        if not self.synth:
            self.lib.delete_fluid_settings(self.settings)
            raise DataError("libfluidsynth could not create a synthesiser")
        self.sfont_id = self.lib.fluid_synth_sfload(self.synth, str(soundfont).encode(), 1)
        if self.sfont_id < 0:
            self.close()
            raise DataError(
                f"{soundfont}: not a readable SoundFont 2 file; pass another --soundfont"
            )

    def close(self) -> None:
        if getattr(self, "synth", None):
            self.lib.delete_fluid_synth(self.synth)
            self.synth = None
        if getattr(self, "settings", None):
            self.lib.delete_fluid_settings(self.settings)
            self.settings = None

    def __enter__(self) -> Synth:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def has_preset(self, bank: int, program: int) -> bool:
        sfont = self.lib.fluid_synth_get_sfont_by_id(self.synth, self.sfont_id)
        return bool(sfont) and bool(self.lib.fluid_sfont_get_preset(sfont, bank, program))

    def preset_name(self, bank: int, program: int) -> str | None:
        sfont = self.lib.fluid_synth_get_sfont_by_id(self.synth, self.sfont_id)
        preset = self.lib.fluid_sfont_get_preset(sfont, bank, program) if sfont else None
        return self.lib.fluid_preset_get_name(preset).decode(errors="replace") if preset else None

    def _available(self, bank: int, program: int) -> int:
        """`program` when the soundfont has it, else the bank's program 0 (a GM soundfont that
        lacks a kit or patch falls back to the standard one instead of rendering silence)."""
        if self.has_preset(bank, program):
            return program
        if self.has_preset(bank, 0):
            return 0
        kind = "drum kit" if bank == DRUM_BANK else "instrument"
        raise DataError(
            f"the soundfont has no {kind} {program} nor 0 in bank {bank}; use a General MIDI soundfont"
        )

    def render(self, parts: list[Part], seconds: float) -> np.ndarray:
        """Render parts (at most 15 pitched + drums) to float32 stereo `[2, round(seconds*sr)]`."""
        lib, sr = self.lib, self.samplerate
        total = int(round(seconds * sr))
        events: list[tuple[int, int, int, int, int]] = []  # (frame, order, channel, key, velocity)
        pitched = iter(c for c in range(16) if c != DRUM_CHANNEL)
        for part in parts:
            bank = DRUM_BANK if part.is_drum else 0
            chan = DRUM_CHANNEL if part.is_drum else next(pitched)
            program = self._available(bank, part.program)
            lib.fluid_synth_program_select(self.synth, chan, self.sfont_id, bank, program)
            lib.fluid_synth_cc(self.synth, chan, 10, int(part.pan))
            lib.fluid_synth_cc(self.synth, chan, 7, int(part.volume))
            for n in part.notes:
                on = int(round(n.onset * sr))
                off = max(int(round(n.offset * sr)), on + 1)
                if on >= total:
                    continue
                events.append((on, 1, chan, n.pitch, n.velocity))
                events.append(
                    (off, 0, chan, n.pitch, 0)
                )  # note-off sorts before a note-on at the same frame
        events.sort()
        left = np.zeros(total, dtype=np.float32)
        right = np.zeros(total, dtype=np.float32)
        pos = 0
        for frame, is_on, chan, key, vel in events:
            frame = min(frame, total)
            if frame > pos:
                self._write(left, right, pos, frame - pos)
                pos = frame
            if is_on:
                lib.fluid_synth_noteon(self.synth, chan, key, vel)
            else:
                lib.fluid_synth_noteoff(self.synth, chan, key)
        if total > pos:
            self._write(left, right, pos, total - pos)
        return np.stack([left, right])

    def _write(self, left: np.ndarray, right: np.ndarray, start: int, count: int) -> None:
        step = 1 << 16  # bounded calls; FluidSynth renders in 64-frame blocks internally anyway
        for s in range(start, start + count, step):
            n = min(step, start + count - s)
            lp = left.ctypes.data + 4 * s
            rp = right.ctypes.data + 4 * s
            if self.lib.fluid_synth_write_float(self.synth, n, lp, 0, 1, rp, 0, 1) != 0:
                raise DataError("libfluidsynth failed while rendering")


def render_parts(
    parts: list[Part], seconds: float, soundfont: str | os.PathLike, samplerate: int = 44100
) -> np.ndarray:
    """Render one stem's parts with a fresh synthesiser (bit-identical across runs)."""
    with Synth(soundfont, samplerate) as synth:
        return synth.render(parts, seconds)
