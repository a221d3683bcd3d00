"""Synthetic videos with a known answer: one shape per instrument flashes exactly at its note onsets.

Each video is a few seconds of percussive audio (three synthesised instruments of a kit) and a small
picture in which each instrument owns a coloured square at a fixed place that lights up for a few
frames at every onset of its notes. Two kits: `drums` (a low thump, a noise snare, a high bell; the
bundled v2a-mini base is pretrained on it) and `wood` (a woodblock, a hi-hat and a plucked string,
other colours at other places), so adapting the base to `wood` is a real change of domain. The
onset times depend only on the seed and index, not the kit. Onsets lie on the video frame
grid, so the first lit frame starts exactly at the onset. The ground truth is written next to each
video as `<name>.onsets.json` (times in seconds per instrument, and all together).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import DataError

# kit -> instrument -> (square colour RGB, top-left corner as a fraction of the picture)
KITS = {
    "drums": {
        "thump": ((255, 80, 40), (0.1, 0.1)),
        "snare": ((40, 220, 90), (0.55, 0.1)),
        "bell": ((70, 120, 255), (0.3, 0.55)),
    },
    "wood": {
        "woodblock": ((250, 220, 40), (0.1, 0.6)),
        "hat": ((230, 60, 230), (0.6, 0.6)),
        "pluck": ((40, 220, 230), (0.35, 0.05)),
    },
}
CAPTIONS = {
    "drums": "percussion: thump, snare and bell with flashing squares",
    "wood": "percussion: woodblock, hat and pluck with flashing squares",
}


@dataclass(frozen=True)
class VideoSpec:
    """How the synthetic videos look and sound."""

    seconds: float = 4.0
    fps: int = 16
    size: int = 64
    samplerate: int = 16000
    rate_hz: float = 1.5  # mean onsets per second per instrument
    flash_frames: int = 2
    container: str = "mp4"  # mp4 (h264 + aac) or mkv (h264 + flac)
    kit: str = "drums"  # a key of KITS

    def instruments(self) -> dict[str, tuple]:
        if self.kit not in KITS:
            raise DataError(f"kit {self.kit!r}: choose one of {', '.join(KITS)}")
        return KITS[self.kit]


def _voice(name: str, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / sr
    if name == "thump":
        freq = 60 + 90 * np.exp(-t * 30)
        return np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t * 12)
    if name == "snare":
        return rng.standard_normal(n) * np.exp(-t * 25) * 0.6
    if name == "bell":
        return np.sin(2 * np.pi * 1320 * t) * np.exp(-t * 8) * 0.5
    if name == "woodblock":  # two inharmonic partials, very short
        body = np.sin(2 * np.pi * 820 * t) + 0.6 * np.sin(2 * np.pi * 2270 * t)
        return body * np.exp(-t * 60) * 0.7
    if name == "hat":  # noise above 5 kHz (first difference twice), very short
        noise = np.diff(rng.standard_normal(n + 2), n=2) / 2
        return noise * np.exp(-t * 70) * 0.6
    if name == "pluck":  # a decaying harmonic string at 330 Hz, upper partials dying first
        parts = [np.sin(2 * np.pi * 330 * k * t) * np.exp(-t * 6 * k) / k for k in range(1, 6)]
        return np.sum(parts, axis=0) * 0.6
    raise DataError(f"instrument {name!r}: no voice")


def compose(index: int, seed: int, spec: VideoSpec) -> dict[str, list[float]]:
    """Onset times per instrument, on the frame grid, at least 4 frames apart per instrument (the
    same times for every kit: the k-th instrument of each kit gets the same draws)."""
    rng = np.random.default_rng([seed, index])
    frames = int(spec.seconds * spec.fps)
    out = {}
    for name in spec.instruments():
        count = max(1, rng.poisson(spec.rate_hz * spec.seconds))
        picks = sorted(rng.choice(np.arange(1, frames - spec.fps // 4), size=count, replace=False))
        kept: list[int] = []
        for f in picks:
            if not kept or f - kept[-1] >= 4:
                kept.append(int(f))
        out[name] = [f / spec.fps for f in kept]
    return out


def render_audio(onsets: dict[str, list[float]], spec: VideoSpec, seed: int) -> np.ndarray:
    """Mono float32 [1, samples]: each instrument's voice at each onset, peaking at -3 dBFS."""
    sr = spec.samplerate
    total = int(round(spec.seconds * sr))
    mix = np.zeros(total)
    rng = np.random.default_rng(seed)
    for name, times in onsets.items():
        for t in times:
            start = int(round(t * sr))
            voice = _voice(name, min(int(0.4 * sr), total - start), sr, rng)
            mix[start : start + len(voice)] += voice
    peak = np.abs(mix).max() or 1.0
    return (mix / peak * 10 ** (-3 / 20)).astype(np.float32)[None]


def render_frames(onsets: dict[str, list[float]], spec: VideoSpec) -> np.ndarray:
    """uint8 [frames, size, size, 3]: dark squares that light up from each onset's frame."""
    frames = int(spec.seconds * spec.fps)
    side = spec.size // 4
    video = np.full((frames, spec.size, spec.size, 3), 16, dtype=np.uint8)
    for name, (colour, (fx, fy)) in spec.instruments().items():
        x, y = int(fx * spec.size), int(fy * spec.size)
        video[:, y : y + side, x : x + side] = np.array(colour) // 6
        for t in onsets.get(name, []):
            f = int(round(t * spec.fps))
            video[f : f + spec.flash_frames, y : y + side, x : x + side] = colour
    return video


def write_video(
    path: Path, frames: np.ndarray, audio: np.ndarray | None, fps: int, samplerate: int
) -> Path:
    """Encode frames (h264; vp8 in webm) and mono audio (aac in mp4, flac in mkv, opus at 48 kHz in
    webm) with PyAV, atomically."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        with av.open(tmp, "w") as out:
            webm = path.suffix == ".webm"
            vs = out.add_stream("libvpx" if webm else "libx264", rate=fps)
            vs.width, vs.height, vs.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
            if not webm:
                vs.options = {"crf": "18", "preset": "veryfast", "bf": "0"}
            astream = None
            if audio is not None:
                codec = {".mp4": "aac", ".webm": "libopus"}.get(path.suffix, "flac")
                astream = out.add_stream(codec, rate=samplerate, layout="mono")
            for img in frames:
                for packet in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    out.mux(packet)
            for packet in vs.encode():
                out.mux(packet)
            if astream is not None:
                fmt = "s16" if astream.codec_context.name == "flac" else "fltp"
                pcm = audio if fmt == "fltp" else (audio * 32767).astype(np.int16)
                chunk, pts = 1024, 0
                for i in range(0, pcm.shape[1], chunk):
                    part = np.ascontiguousarray(pcm[:, i : i + chunk])
                    frame = av.AudioFrame.from_ndarray(part, format=fmt, layout="mono")
                    frame.sample_rate, frame.pts = samplerate, pts
                    pts += part.shape[1]
                    for packet in astream.encode(frame):
                        out.mux(packet)
                for packet in astream.encode():
                    out.mux(packet)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def render_videos(
    out: str | os.PathLike, count: int, seed: int = 0, spec: VideoSpec | None = None
) -> list[Path]:
    """Write `count` synthetic videos `sync_NNN.<container>` with `.onsets.json` and caption sidecars."""
    spec = spec or VideoSpec()
    if spec.container not in ("mp4", "mkv"):
        raise DataError(f"container {spec.container!r}: choose mp4 or mkv")
    out = Path(out)
    paths = []
    for i in range(count):
        onsets = compose(i, seed, spec)
        audio = render_audio(onsets, spec, seed * 1000 + i)
        path = out / f"sync_{i:03d}.{spec.container}"
        write_video(path, render_frames(onsets, spec), audio, spec.fps, spec.samplerate)
        events = sorted(t for times in onsets.values() for t in times)
        truth = {"fps": spec.fps, "seconds": spec.seconds, "onsets": onsets, "events": events}
        _write_text(path.with_suffix(".onsets.json"), json.dumps(truth, indent=1))
        _write_text(path.with_suffix(".txt"), CAPTIONS[spec.kit])
        paths.append(path)
    return paths


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
