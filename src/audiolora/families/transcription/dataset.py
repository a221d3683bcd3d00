"""Note-aligned stem windows for training a stem transcriber, from the renderer's folders:
`<root>/<split>/<track>/{mixture.wav, <stem>.wav ..., notes.json}`.

Each item is one 2 s window (43844 samples at 22.05 kHz) of the chosen stem (or the mixture when
`stem` is None) with its targets. Training items are random crops that depend on (seed, epoch,
index) only, with a random gain and, with probability `bleed_probability`, the other stems mixed
in at a random level (imperfect separation). Validation items are fixed crops without augmentation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ...errors import DataError
from .inference import load_mono
from .model import SAMPLE_RATE, WINDOW_SAMPLES
from .targets import note_targets


@dataclass
class NoteTrack:
    """One track in memory: the target signal, the rest of the mix, and the target notes."""

    name: str
    target: np.ndarray  # mono 22.05 kHz
    rest: np.ndarray  # sum of the other stems (bleed source), same length
    notes: list[tuple[float, float, int]]


def read_notes(track_dir: Path, stem: str | None) -> list[tuple[float, float, int]]:
    """The notes of `stem` (all stems when None) from the track's notes.json."""
    path = track_dir / "notes.json"
    try:
        data = json.loads(path.read_text())
        stems = data["stems"]
    except FileNotFoundError:
        raise DataError(f"{path}: missing; render the data with `audiolora data render`") from None
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: not a notes file with a 'stems' mapping ({exc})") from None
    if stem is not None and stem not in stems:
        raise DataError(f"{path}: no notes for stem {stem!r} (has {', '.join(stems)})")
    chosen = [stem] if stem is not None else list(stems)
    return sorted(
        (float(n[0]), float(n[1]), int(n[2]))
        for s in chosen
        for n in stems[s]
        if float(n[1]) > float(n[0])
    )


def track_dirs(root: str | Path, split: str) -> list[Path]:
    """Track folders of a split (those holding notes.json), sorted by name."""
    folder = Path(root) / split
    if not folder.is_dir():
        raise DataError(f"{folder}: no such split folder (expected <data.root>/{split}/<track>/)")
    tracks = sorted(p for p in folder.iterdir() if (p / "notes.json").is_file())
    if not tracks:
        raise DataError(f"{folder}: no track folders with notes.json")
    return tracks


def load_track(track_dir: Path, stem: str | None) -> NoteTrack:
    """Read a track's target signal (stem or mixture), the other stems' sum, and the notes."""
    notes = read_notes(track_dir, stem)
    mixture = load_mono(track_dir / "mixture.wav")
    if stem is None:
        return NoteTrack(track_dir.name, mixture, np.zeros_like(mixture), notes)
    target = load_mono(track_dir / f"{stem}.wav")
    n = min(len(target), len(mixture))
    return NoteTrack(track_dir.name, target[:n], mixture[:n] - target[:n], notes)


class NoteWindows(Dataset):
    """Windows of note-aligned audio with Basic Pitch targets; see the module docstring."""

    def __init__(
        self,
        tracks: list[NoteTrack],
        crops_per_track: int = 8,
        train: bool = True,
        seed: int = 0,
        gain_db: tuple[float, float] = (-6.0, 6.0),
        bleed: tuple[float, float] = (0.0, 0.3),
        bleed_probability: float = 0.5,
        onset_tolerance: int = 0,
    ):
        if not tracks:
            raise DataError("no tracks to build transcription windows from")
        self.tracks = tracks
        self.crops = crops_per_track
        self.train = train
        self.seed = seed
        self.epoch = 0
        self.gain_db = gain_db
        self.bleed = bleed
        self.bleed_probability = bleed_probability
        self.onset_tolerance = onset_tolerance

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.tracks) * self.crops

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        track = self.tracks[index // self.crops]
        span = max(len(track.target) - WINDOW_SAMPLES, 0)
        if self.train:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            start = int(rng.integers(0, span + 1))
        else:
            rng = None
            start = int(round(span * (index % self.crops) / max(self.crops - 1, 1)))
        audio = track.target[start : start + WINDOW_SAMPLES].copy()
        if rng is not None:
            if rng.random() < self.bleed_probability:
                level = rng.uniform(*self.bleed)
                audio += level * track.rest[start : start + WINDOW_SAMPLES]
            audio *= 10 ** (rng.uniform(*self.gain_db) / 20)
        if len(audio) < WINDOW_SAMPLES:
            audio = np.pad(audio, (0, WINDOW_SAMPLES - len(audio)))
        targets = note_targets(
            track.notes, start / SAMPLE_RATE, onset_tolerance=self.onset_tolerance
        )
        return {"audio": torch.from_numpy(audio.astype(np.float32))} | {
            k: torch.from_numpy(v) for k, v in targets.items()
        }
