"""Transcribe and generate as the UI calls them (the real Basic Pitch weights; FluidSynth preview)."""

import numpy as np
import pretty_midi
import pytest
import soundfile as sf

from audiolora.audio import write_audio
from audiolora.errors import UsageError
from audiolora.ui import inference


def test_transcribe_writes_midi_roll_and_preview(tmp_path):
    sr = 22050
    t = np.arange(int(1.5 * sr)) / sr
    tone = 0.3 * np.sin(2 * np.pi * 440.0 * t) * np.minimum(1, 20 * (1.5 - t))
    path = write_audio(tmp_path / "a4.wav", tone[None].astype(np.float32), sr)
    result = inference.transcribe_upload(path, tmp_path / "out")
    notes = pretty_midi.PrettyMIDI(str(result.midi)).instruments[0].notes
    assert result.notes == len(notes) > 0
    assert 69 in {n.pitch for n in notes}
    assert result.piano_roll.stat().st_size > 1000
    preview, preview_sr = sf.read(result.preview)
    assert preview_sr == 22050 and np.abs(preview).max() > 0.5


def test_generate_tab_hidden_until_the_family_exists():
    try:
        import audiolora.families.generation.inference as gen  # noqa: F401
    except ImportError:
        assert inference.generation_api() is None
    else:
        assert callable(inference.generation_api())


def test_generate_to_files_passes_the_documented_arguments(tmp_path):
    seen = {}

    def generate(model, prompt, *, lyrics, duration, seed, steps, guidance, adapters, progress):
        seen.update(model=model, prompt=prompt, seed=seed, steps=steps, adapters=adapters)
        n = int(duration * 8000)
        return np.random.default_rng(seed).uniform(-0.5, 0.5, (2, n)).astype(np.float32), 8000

    wav, png = inference.generate_to_files(
        tmp_path,
        "base",
        "warm pads",
        duration=1.0,
        seed=3,
        steps=8.0,
        adapters=[("a", 0.5)],
        generate=generate,
    )
    assert seen == {
        "model": "base",
        "prompt": "warm pads",
        "seed": 3,
        "steps": 8,
        "adapters": [("a", 0.5)],
    }
    audio, sr = sf.read(wav, always_2d=True)
    assert sr == 8000 and audio.shape == (8000, 2) and png.stat().st_size > 1000
    with pytest.raises(UsageError, match="prompt"):
        inference.generate_to_files(tmp_path, "base", " ", generate=generate)
    with pytest.raises(UsageError, match="no such adapter"):
        inference.parse_adapters([(str(tmp_path / "missing"), 1.0)])
