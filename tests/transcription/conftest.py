"""Fixtures for the transcription tests: the released ONNX graph and short rendered clips."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from audiolora.families.transcription.onnx_import import find_onnx

SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"


@pytest.fixture(scope="session")
def nmp_onnx() -> Path:
    path = find_onnx()
    assert path is not None, (
        "basic-pitch's nmp.onnx not found: `pip install --no-deps basic-pitch==0.4.0` (make install does)"
    )
    return path


@pytest.fixture(scope="session")
def basic_pitch_modules():
    """basic-pitch's own inference and note creation (imported without TensorFlow)."""
    logging.getLogger().setLevel(logging.ERROR)  # it warns about each missing backend
    from basic_pitch import inference, note_creation

    return inference, note_creation


def render_notes(notes, program: int = 0, samplerate: int = 44100) -> np.ndarray:
    """(onset, offset, pitch) notes rendered by the project's FluidSynth renderer, mono float32."""
    from audiolora.data.render.synth import Note, Part, render_parts

    part = Part("clip", program, [Note(float(a), float(b), int(p), 100) for a, b, p in notes])
    seconds = max(b for _, b, _ in notes) + 1.0
    stereo = render_parts([part], seconds, SOUNDFONT, samplerate)
    return stereo.mean(axis=0).astype(np.float32)


def random_melody(seed: int, n: int = 12, low: int = 36, high: int = 72, start: float = 0.2):
    rng = np.random.default_rng(seed)
    notes, t = [], start
    for _ in range(n):
        dur = float(rng.uniform(0.25, 0.6))
        notes.append((t, t + dur, int(rng.integers(low, high))))
        t += dur + float(rng.uniform(0.0, 0.1))
    return notes


@pytest.fixture(scope="session")
def clip_wav(tmp_path_factory) -> tuple[Path, list]:
    """A ~7 s two-voice piano clip at 44.1 kHz (longer than one 2 s window) and its notes."""
    import soundfile as sf

    melody = random_melody(1)
    notes = melody + [(s, e, p - 12) for s, e, p in melody[::2]]
    path = tmp_path_factory.mktemp("clip") / "clip.wav"
    sf.write(path, render_notes(notes), 44100)
    return path, notes


def write_track(folder: Path, stems: dict[str, tuple[int, list]], samplerate: int = 22050) -> None:
    """A track folder in the renderer's layout: <stem>.wav, mixture.wav, notes.json."""
    import json

    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    audio = {
        name: render_notes(notes, program, samplerate) for name, (program, notes) in stems.items()
    }
    n = max(len(a) for a in audio.values())
    audio = {k: np.pad(a, (0, n - len(a))) for k, a in audio.items()}
    for name, a in audio.items():
        sf.write(folder / f"{name}.wav", a, samplerate)
    sf.write(folder / "mixture.wav", sum(audio.values()), samplerate)
    notes = {name: [[s, e, p, 100] for s, e, p in ns] for name, (_, ns) in stems.items()}
    (folder / "notes.json").write_text(json.dumps({"samplerate": samplerate, "stems": notes}))


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """train/valid/test with bass (acoustic bass) + other (piano) stems, ~4 s per track."""
    root = tmp_path_factory.mktemp("notes_data")
    for split, seeds in (("train", (10, 11)), ("valid", (20,)), ("test", (30,))):
        for seed in seeds:
            bass = random_melody(seed, n=8, low=33, high=52)
            other = random_melody(seed + 100, n=8, low=60, high=80)
            write_track(root / split / f"track{seed}", {"bass": (32, bass), "other": (0, other)})
    return root
