"""Stem-folder datasets: `root/<track>/{mixture.wav, <source>.wav...}` cut into fixed segments.

An item is a float32 tensor `[len(sources), channels, segment * samplerate]`, the stems in `sources`
order (their sum is the mixture). With `normalize=True` an item is a `NormalizedStems(stems, mean,
std)` named tuple instead: the stems are `(x - mean) / std` with the mean and standard deviation of
the whole track's mono mixture, the per-track normalisation demucs trains with; undo it with
`y * std + mean`. torch's default_collate batches it into `(stems [B,S,C,T], mean [B], std [B])`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile as sf
import torch
from torch.utils.data import Dataset

from ..audio import audio_info, convert_channels, read_audio, resample
from ..errors import DataError
from .checks import check_dataset
from .layout import MIXTURE, find_stem_file, list_tracks


class NormalizedStems(NamedTuple):
    """An item of a `normalize=True` dataset: normalised stems plus the track's mixture stats."""

    stems: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor


@dataclass
class StemTrack:
    """One track folder: its stem files, length in frames at the dataset rate, mixture stats."""

    name: str
    path: Path
    files: dict[str, Path]  # source -> file
    mixture: Path | None
    frames: int
    file_rates: dict[str, int]  # source -> the file's own sample rate
    mean: float = 0.0
    std: float = 1.0


class StemDataset(Dataset):
    """Fixed-length segments of the stems of every track under `root` (a split folder).

    `random_crop=False` (validation/test): segments start at 0, stride, 2*stride, ... and cover every
    track to its end (the last one zero-padded). `random_crop=True` (training): as many items as
    the deterministic grid, each a crop at a random start drawn from (seed, epoch, index) only, so
    resuming at any epoch and index gives the same crops. `tracks` lists the `StemTrack`s.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        sources: list[str] | tuple[str, ...],
        *,
        segment: float,
        samplerate: int,
        channels: int = 2,
        stride: float | None = None,
        random_crop: bool = False,
        seed: int = 0,
        normalize: bool = False,
    ):
        if not sources:
            raise DataError("no sources given; set data.sources, e.g. [drums, bass, other, vocals]")
        if segment <= 0:
            raise DataError(f"segment must be positive, got {segment}")
        self.root = Path(root)
        self.sources = list(sources)
        self.samplerate = int(samplerate)
        self.channels = int(channels)
        self.segment_frames = int(round(segment * samplerate))
        self.stride_frames = int(round((stride or segment) * samplerate))
        if self.stride_frames <= 0:
            raise DataError(f"stride must be positive, got {stride}")
        self.random_crop = random_crop
        self.seed = int(seed)
        self.normalize = normalize
        self.epoch = 0
        self.tracks = [self._scan(p) for p in list_tracks(self.root, self.sources)]
        if not self.tracks and (self.root / "train").is_dir():
            raise DataError(
                f"{self.root}: is a dataset root; pass one split folder, e.g. {self.root / 'train'}"
            )
        if not self.tracks:
            raise DataError(
                f"{self.root}: no track folders with {', '.join(self.sources)} stems; "
                "expected <root>/<track>/<source>.wav"
            )
        if normalize:
            for track in self.tracks:
                track.mean, track.std = self._mixture_stats(track)
        self.examples: list[tuple[int, int]] = []  # (track index, start frame of the grid)
        for t, track in enumerate(self.tracks):
            count = max(1, math.ceil((track.frames - self.segment_frames) / self.stride_frames) + 1)
            self.examples += [(t, k * self.stride_frames) for k in range(count)]

    def _scan(self, folder: Path) -> StemTrack:
        files = {}
        for source in self.sources:
            path = find_stem_file(folder, source)
            if path is None:
                raise DataError(
                    f"{folder}: missing stem {source!r} ({source}.wav); add it or run `audiolora data check`"
                )
            files[source] = path
        infos = {s: audio_info(p) for s, p in files.items()}
        frames = min(i.frames * self.samplerate // i.samplerate for i in infos.values())
        rates = {s: i.samplerate for s, i in infos.items()}
        return StemTrack(folder.name, folder, files, find_stem_file(folder, MIXTURE), frames, rates)

    def _mixture_stats(self, track: StemTrack) -> tuple[float, float]:
        if track.mixture is not None:
            mix, _ = read_audio(track.mixture, self.samplerate, self.channels)
        else:
            mix = sum(
                read_audio(p, self.samplerate, self.channels)[0] for p in track.files.values()
            )
        mono = mix.mean(axis=0, dtype=np.float64)
        std = float(mono.std())
        return float(mono.mean()), std if std > 1e-8 else 1.0

    def set_epoch(self, epoch: int) -> None:
        """Select the random crops of `epoch` (no effect with random_crop=False).

        Call it before creating the DataLoader iterator of the epoch: worker processes copy the
        dataset then, so with `persistent_workers=True` a later call would not reach them.
        """
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.examples)

    def start_frame(self, index: int) -> int:
        """Where item `index` starts in its track (depends on seed, epoch and index only)."""
        t, start = self.examples[index]
        if not self.random_crop:
            return start
        span = self.tracks[t].frames - self.segment_frames
        if span <= 0:
            return 0
        rng = np.random.default_rng([self.seed, self.epoch, index])
        return int(rng.integers(0, span + 1))

    def __getitem__(self, index: int):
        if index < 0:
            index += len(self)
        t, _ = self.examples[index]
        track = self.tracks[t]
        start = self.start_frame(index)
        stems = np.stack(
            [
                self._read(track.files[s], track.file_rates[s], start, self.segment_frames)
                for s in self.sources
            ]
        )
        out = torch.from_numpy(stems)
        if self.normalize:
            out = (out - track.mean) / track.std
            return NormalizedStems(
                out,
                torch.tensor(track.mean, dtype=torch.float32),
                torch.tensor(track.std, dtype=torch.float32),
            )
        return out

    def load_track(self, index: int) -> torch.Tensor:
        """Whole track `index` as `[S, C, frames]` (not normalised)."""
        track = self.tracks[index]
        return torch.from_numpy(
            np.stack(
                [
                    self._read(track.files[s], track.file_rates[s], 0, track.frames)
                    for s in self.sources
                ]
            )
        )

    def _read(self, path: Path, sr: int, start: int, frames: int) -> np.ndarray:
        """`frames` frames from `start` (dataset rate) as `[channels, frames]`, zero-padded at the end."""
        if sr == self.samplerate:
            first, count = start, frames
        else:  # read the matching span at the file's rate (with a margin) and resample it
            first = start * sr // self.samplerate
            count = int(math.ceil(frames * sr / self.samplerate)) + 16
        try:
            data, _ = sf.read(
                str(path),
                start=first,
                frames=count,
                dtype="float32",
                always_2d=True,
                fill_value=0.0,
            )
        except Exception as exc:
            raise DataError(
                f"{path}: unreadable audio ({exc}); run `audiolora data check`"
            ) from None
        audio = convert_channels(np.ascontiguousarray(data.T), self.channels)
        if sr != self.samplerate:
            audio = resample(audio, sr, self.samplerate)
        if audio.shape[1] < frames:
            audio = np.pad(audio, ((0, 0), (0, frames - audio.shape[1])))
        return np.ascontiguousarray(audio[:, :frames], dtype=np.float32)


def stem_datasets(
    data, seed: int = 0, check: bool = True
) -> tuple[StemDataset, StemDataset | None]:
    """(train, valid) StemDatasets from a `DataConfig` (`<root>/train`, `<root>/valid`).

    With `check`, the dataset is checked first (`audiolora data check`) and bad data is refused with
    one line per problem. Training items are random crops; validation items the deterministic grid.
    """
    if not data.root:
        raise DataError("data.root is not set; point it at a dataset folder with train/ and valid/")
    if not data.sources:
        raise DataError("data.sources is empty; list the stems, e.g. data.sources='[drums,bass]'")
    root = Path(data.root)
    if not (root / "train").is_dir():
        raise DataError(f"{root}: no train/ folder; render a dataset or use `audiolora data split`")
    if check:
        check_dataset(
            root,
            data.sources,
            samplerate=data.samplerate,
            allow_resample=data.allow_resample,
            tolerance_s=data.length_tolerance,
        ).raise_if_errors()
    common = dict(
        segment=data.segment,
        samplerate=data.samplerate,
        channels=data.channels,
        normalize=data.normalize,
        seed=seed,
    )
    train = StemDataset(root / "train", data.sources, random_crop=True, **common)
    valid = None
    if (root / "valid").is_dir() and list_tracks(root / "valid", data.sources):
        valid = StemDataset(root / "valid", data.sources, stride=data.stride, **common)
    return train, valid
