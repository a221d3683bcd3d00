"""Auto-metadata from the signal: tempo of click tracks, key of chords (Krumhansl profiles)."""

import numpy as np
import pytest

from audiolora.audio import write_audio
from audiolora.data.autometa import estimate_key, estimate_tempo, fill_metadata, key_from_chroma

SR = 22050


def click_track(bpm: float, seconds: float = 8.0) -> np.ndarray:
    y = np.zeros(int(seconds * SR), np.float32)
    n = np.arange(400)
    click = np.sin(2 * np.pi * 1000 * n / SR) * np.exp(-n / 80)
    for t in np.arange(0, seconds, 60 / bpm):
        i = int(t * SR)
        y[i : i + 400] += click[: len(y) - i]
    return y


def chord(pitches, seconds: float = 3.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return sum(0.2 * np.sin(2 * np.pi * 440 * 2 ** ((p - 69) / 12) * t) for p in pitches).astype(
        np.float32
    )


@pytest.mark.parametrize("bpm", [100, 128])
def test_tempo_of_a_click_track(bpm):
    assert estimate_tempo(click_track(bpm), SR) == pytest.approx(bpm, rel=0.02)


@pytest.mark.parametrize(
    "pitches, key",
    [([57, 60, 64, 69], "A minor"), ([62, 66, 69, 74], "D major"), ([54, 57, 61, 66], "F# minor")],
)
def test_key_of_a_chord(pitches, key):
    assert estimate_key(chord(pitches), SR).keyscale == key


def test_profiles_recover_every_rotated_key():
    from audiolora.data.autometa import MAJOR_PROFILE, MINOR_PROFILE, PITCH_NAMES

    for tonic, name in enumerate(PITCH_NAMES):
        assert key_from_chroma(np.roll(MAJOR_PROFILE, tonic)).keyscale == f"{name} major"
        assert key_from_chroma(np.roll(MINOR_PROFILE, tonic)).keyscale == f"{name} minor"


def test_fill_keeps_given_values_and_skips_silence(tmp_path):
    path = write_audio(tmp_path / "c.wav", np.stack([click_track(120.0)] * 2), SR)
    filled = fill_metadata({"bpm": 90.0, "keyscale": ""}, path)
    assert filled["bpm"] == 90.0 and filled["duration"] == pytest.approx(8.0)
    assert filled["keyscale"].endswith(("major", "minor"))
    assert fill_metadata({"bpm": 90.0}, path, overwrite=True)["bpm"] == pytest.approx(120, rel=0.02)
    silent = write_audio(tmp_path / "s.wav", np.zeros((1, SR), np.float32), SR)
    assert fill_metadata({}, silent) == {"duration": 1.0}
