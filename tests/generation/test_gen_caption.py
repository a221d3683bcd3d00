"""`audiolora data caption`: bpm and key from the signal into the captions CSV the trainer reads."""

import numpy as np
import pytest

from audiolora.audio import write_audio
from audiolora.cli import main
from audiolora.data.captions import read_caption_csv


@pytest.mark.slow
def test_caption_fills_bpm_and_key_and_the_trainer_reads_it(tmp_path):
    sr = 22050
    t = np.arange(8 * sr) / sr
    clicks = np.zeros_like(t)
    for k in range(int(8 * 120 / 60)):  # 120 bpm clicks over an A minor triad
        start = int(k * 0.5 * sr)
        clicks[start : start + 200] = np.hanning(200)
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 261.63, 329.63)) / 6
    write_audio(tmp_path / "song.wav", np.stack([clicks + chord] * 2).astype(np.float32), sr)
    assert main(["--quiet", "data", "caption", str(tmp_path)]) == 0
    caption = read_caption_csv(tmp_path / "captions.csv")[str((tmp_path / "song.wav").resolve())]
    assert abs(caption.bpm - 120) < 3 and caption.keyscale == "A minor"
