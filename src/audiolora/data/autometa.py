"""Offline auto-metadata from the signal: tempo (librosa beat tracking), key (Krumhansl-Kessler
profiles correlated with the mean chroma) and duration, for filling in caption fields."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..audio import audio_info, read_audio

SAMPLE_RATE = 22050
HOP = 256
PITCH_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
# Krumhansl & Kessler (1982) probe-tone ratings, tonic first.
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


@dataclass(frozen=True)
class KeyEstimate:
    """The best key as 'C major' / 'F# minor', and its correlation with the chroma (-1..1)."""

    keyscale: str
    correlation: float


def estimate_tempo(audio: np.ndarray, samplerate: int) -> float:
    """Tempo in BPM of mono audio [T] from librosa's beat tracker (onset strength, hop 256)."""
    import librosa

    onset = librosa.onset.onset_strength(y=audio, sr=samplerate, hop_length=HOP)
    tempo, _beats = librosa.beat.beat_track(onset_envelope=onset, sr=samplerate, hop_length=HOP)
    return round(float(np.atleast_1d(tempo)[0]), 2)


def key_from_chroma(chroma_mean: np.ndarray) -> KeyEstimate:
    """The major/minor key whose rotated profile correlates best with a 12-bin chroma vector."""
    chroma_mean = np.asarray(chroma_mean, dtype=np.float64)
    best = ("C major", -2.0)
    for tonic in range(12):
        for mode, profile in (("major", MAJOR_PROFILE), ("minor", MINOR_PROFILE)):
            r = float(np.corrcoef(chroma_mean, np.roll(profile, tonic))[0, 1])
            if np.isfinite(r) and r > best[1]:
                best = (f"{PITCH_NAMES[tonic]} {mode}", r)
    return KeyEstimate(best[0], round(best[1], 4))


def estimate_key(audio: np.ndarray, samplerate: int) -> KeyEstimate:
    """Key of mono audio [T]: mean constant-Q chroma matched against Krumhansl-Kessler profiles."""
    import librosa

    chroma = librosa.feature.chroma_cqt(y=audio, sr=samplerate, hop_length=HOP * 2)
    return key_from_chroma(chroma.mean(axis=1))


def analyse_file(path: str | os.PathLike) -> dict[str, float | str]:
    """{bpm, keyscale, duration} of an audio file (mono, 22.05 kHz for the estimators)."""
    audio, sr = read_audio(path, samplerate=SAMPLE_RATE, channels=1)
    mono = audio[0]
    out: dict[str, float | str] = {"duration": round(audio_info(path).duration, 3)}
    if np.max(np.abs(mono)) > 0:
        out["bpm"] = estimate_tempo(mono, sr)
        out["keyscale"] = estimate_key(mono, sr).keyscale
    return out


def fill_metadata(
    meta: dict, path: str | os.PathLike, *, overwrite: bool = False
) -> dict[str, object]:
    """`meta` with bpm, keyscale and duration estimated from `path` where empty (or all, with
    `overwrite`). A silent file gets only its duration."""
    found = analyse_file(path)
    out = dict(meta)
    for key, value in found.items():
        if overwrite or out.get(key) in (None, ""):
            out[key] = value
    return out
