"""Video input with PyAV: probe videos, split a folder into overlapping fixed-length clips (a TSV),
and decode one clip's audio (resampled to the model rate) and frames.

A video without an audio track, a file PyAV cannot open, or one shorter than a clip is skipped with
a one-line reason; the other videos go on.
"""

from __future__ import annotations

import csv
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..audio import convert_channels, resample
from ..errors import DataError

VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".mov")
TSV_COLUMNS = ("id", "video", "start", "seconds", "split")


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    seconds: float
    fps: float
    width: int
    height: int
    samplerate: int


@dataclass(frozen=True)
class Clip:
    """One clip: `video` relative to the clip list's video root; `split` train or test."""

    id: str
    video: str
    start: float
    seconds: float
    split: str = "train"


def _open(path: Path):
    import av

    try:
        return av.open(str(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise DataError(
            f"{path}: not a readable video ({reason}); re-encode or remove it"
        ) from None


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Duration, frame rate, size and audio rate; DataError naming the file when one is missing."""
    path = Path(path)
    with _open(path) as box:
        if not box.streams.video:
            raise DataError(f"{path}: no video track; remove it from the folder")
        if not box.streams.audio:
            raise DataError(
                f"{path}: no audio track (nothing to learn from); remove it or add sound"
            )
        vs, aus = box.streams.video[0], box.streams.audio[0]
        seconds = 0.0
        if box.duration:
            seconds = box.duration / 1e6
        elif vs.duration and vs.time_base:
            seconds = float(vs.duration * vs.time_base)
        fps = float(vs.average_rate or vs.guessed_rate or 0)
        if seconds <= 0 or fps <= 0:
            raise DataError(f"{path}: cannot read its duration or frame rate; re-encode it")
        return VideoInfo(path, seconds, fps, vs.width, vs.height, aus.sample_rate)


def clip_starts(duration: float, seconds: float, overlap: float) -> list[float]:
    """Starts of the full clips of `seconds` (overlap a fraction in [0, 1)) inside `duration`."""
    hop = seconds * (1 - overlap)
    count = int(np.floor((duration - seconds) / hop + 1e-6)) + 1 if duration >= seconds else 0
    return [round(i * hop, 6) for i in range(count)]


def find_videos(folder: str | os.PathLike) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder of videos")
    return sorted(
        p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file()
    )


def split_videos(
    folder: str | os.PathLike,
    seconds: float,
    overlap: float = 0.0,
    holdout: float = 0.25,
) -> tuple[list[Clip], list[str]]:
    """Clips of every usable video in `folder`, and one line per skipped video.

    Whole videos are held out (`split: test`): the last `holdout` share of them in name order, at
    least one when there are two or more usable videos.
    """
    if not 0 <= overlap < 1:
        raise DataError(f"overlap {overlap}: must be a fraction in [0, 1)")
    folder = Path(folder)
    usable: list[tuple[Path, list[float]]] = []
    skipped: list[str] = []
    for path in find_videos(folder):
        try:
            info = probe_video(path)
        except DataError as exc:
            skipped.append(str(exc))
            continue
        starts = clip_starts(info.seconds, seconds, overlap)
        if not starts:
            skipped.append(
                f"{path}: {info.seconds:.2f} s, shorter than one clip of {seconds:g} s; "
                "use a shorter --clip-seconds or remove it"
            )
            continue
        usable.append((path, starts))
    n_test = int(round(len(usable) * holdout)) if holdout > 0 else 0
    if holdout > 0 and len(usable) >= 2:
        n_test = min(max(n_test, 1), len(usable) - 1)
    clips = []
    for i, (path, starts) in enumerate(usable):
        split = "test" if i >= len(usable) - n_test else "train"
        rel = path.relative_to(folder).as_posix()
        stem = rel.rsplit(".", 1)[0].replace("/", "__")
        for k, start in enumerate(starts):
            clips.append(Clip(f"{stem}__{k:04d}", rel, start, seconds, split))
    return clips, skipped


def write_clip_tsv(path: str | os.PathLike, clips: list[Clip]) -> Path:
    """Write the clip list atomically (tab-separated, header `id video start seconds split`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", newline="") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        w.writerow(TSV_COLUMNS)
        for c in clips:
            w.writerow([c.id, c.video, f"{c.start:.6f}", f"{c.seconds:.6f}", c.split])
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return path


def read_clip_tsv(path: str | os.PathLike) -> list[Clip]:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no clip list; make one with `audiolora v2a split`")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    if rows and set(TSV_COLUMNS) - set(rows[0]):
        raise DataError(f"{path}: a clip list needs the columns {', '.join(TSV_COLUMNS)}")
    try:
        return [
            Clip(r["id"], r["video"], float(r["start"]), float(r["seconds"]), r["split"])
            for r in rows
        ]
    except ValueError as exc:
        raise DataError(f"{path}: bad number in the clip list ({exc})") from None


def read_clip_audio(
    path: str | os.PathLike, start: float, seconds: float, samplerate: int, channels: int = 1
) -> np.ndarray:
    """float32 [channels, round(seconds * samplerate)] of the clip, resampled with soxr."""
    path = Path(path)
    chunks, rate, first = [], None, None
    with _open(path) as box:
        if not box.streams.audio:
            raise DataError(f"{path}: no audio track")
        stream = box.streams.audio[0]
        box.seek(int(max(start - 0.5, 0) * 1e6))  # container time base (microseconds)
        for frame in box.decode(stream):
            if frame.pts is None:
                continue
            t0 = float(frame.pts * frame.time_base)
            rate = frame.sample_rate
            if t0 >= start + seconds:
                break
            data = frame.to_ndarray()
            if frame.format.is_packed:
                data = data.reshape(-1, len(frame.layout.channels)).T
            if data.dtype.kind == "i":
                data = data.astype(np.float32) / np.iinfo(data.dtype).max
            if first is None:
                first = t0
            chunks.append(data.astype(np.float32))
    if not chunks:
        raise DataError(f"{path}: no audio at {start:.2f} s; the clip list may be stale")
    audio = np.concatenate(chunks, axis=1)
    offset = int(round((start - first) * rate))
    audio = audio[:, max(offset, 0) :]
    if offset < 0:
        audio = np.pad(audio, ((0, 0), (-offset, 0)))
    audio = resample(convert_channels(audio, channels), rate, samplerate)
    n = int(round(seconds * samplerate))
    return np.pad(audio[:, :n], ((0, 0), (0, max(0, n - audio.shape[1])))).astype(np.float32)


def read_clip_frames(
    path: str | os.PathLike, start: float, seconds: float, height: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 RGB frames [N, H, W, 3] inside the clip, their times in seconds from the clip start).

    Frames keep the video's own rate; `height` scales them down while decoding (aspect kept).
    """
    path = Path(path)
    frames, times = [], []
    with _open(path) as box:
        stream = box.streams.video[0]
        box.seek(int(max(start - 1.0, 0) * 1e6))
        for frame in box.decode(stream):
            if frame.pts is None:
                continue
            t = float(frame.pts * frame.time_base)
            if t < start - 1e-6:
                continue
            if t >= start + seconds - 1e-6:
                break
            kwargs = {}
            if height and frame.height > height:
                width = max(2, round(frame.width * height / frame.height / 2) * 2)
                kwargs = {"width": width, "height": height}
            frames.append(frame.to_ndarray(format="rgb24", **kwargs))
            times.append(t - start)
    if not frames:
        raise DataError(f"{path}: no frames at {start:.2f} s; the clip list may be stale")
    return np.stack(frames), np.asarray(times, dtype=np.float64)
