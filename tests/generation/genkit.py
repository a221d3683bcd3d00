"""Captioned test clips for the generation tests (synthetic tones, captions.csv, split folders)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from audiolora.audio import write_audio

SR = 16000


def tone(freq: float, seconds: float, sr: int = SR, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(seed)
    x = 0.3 * np.sin(2 * np.pi * freq * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t))
    x = x + 0.01 * rng.standard_normal(t.shape)
    return np.stack([x, x]).astype(np.float32)


def make_clips(root: Path, n_train: int = 3, n_valid: int = 1, n_test: int = 1, seconds=1.2):
    """Captioned clips in train/valid/test with a captions.csv at the root; returns the root."""
    rows = ["filename,caption,genre,bpm,keyscale,timesignature,lyrics,language"]
    k = 0
    for split, n in (("train", n_train), ("valid", n_valid), ("test", n_test)):
        for i in range(n):
            rel = f"{split}/clip{i}.wav"
            (root / split).mkdir(parents=True, exist_ok=True)
            write_audio(root / rel, tone(220 * (1 + 0.25 * k), seconds, seed=k), SR)
            rows.append(f"{rel},a koto melody number {k},folk,90,D minor,4/4,,en")
            k += 1
    (root / "captions.csv").write_text("\n".join(rows) + "\n")
    return root


def sidecar(path: Path, **fields) -> None:
    path.with_suffix(".json").write_text(json.dumps(fields))
