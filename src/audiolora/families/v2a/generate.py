"""`audiolora v2a generate`: a soundtrack for a whole video from the (adapted) v2a DiT, muxed in.

The frozen features of each window are computed with the cache's own encoders and functions
(`features.py`), so the DiT sees at generation time what it saw in training. A video longer than
the model's clip length (`v2a.clip_seconds`) is generated in consecutive windows of that length
that overlap by `crossfade` seconds (the last window is aligned to end with the video, so it may
overlap more); each window is sampled from its own noise (seed + k) and joined to the previous one
with an equal-power (cos/sin) crossfade over the last `crossfade` seconds of their overlap.
The output keeps the input's video stream packet for packet (remuxed); a codec the container
cannot hold is re-encoded with libx264. The soundtrack is AAC; `OUT.wav` holds it uncompressed.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from ...audio import write_audio
from ...data.video import _open, read_clip_frames
from ...errors import DataError, UsageError
from .evaluate import decode
from .features import (
    FRAME_HEIGHT,
    CacheSettings,
    Encoders,
    caption_for,
    frames_at,
    latent_channels,
    motion_energy,
    on_grid,
)
from .sampling import sample_latents

OUT_SUFFIXES = (".mp4", ".mov", ".mkv")


@dataclass(frozen=True)
class VideoTrack:
    path: Path
    seconds: float  # the video stream's own duration (not the container's)
    start: float  # time of its first frame in the container
    frames: int  # frame count from the header, 0 when unknown


def probe_video_track(path: str | os.PathLike) -> VideoTrack:
    """The first video stream's duration and start; a one-line DataError without one."""
    path = Path(path)
    with _open(path) as box:
        if not box.streams.video:
            raise DataError(f"{path}: no video stream; give a video file (mp4, mkv, webm, mov)")
        vs = box.streams.video[0]
        tb = vs.time_base or Fraction(1, 1)
        start = float(vs.start_time * tb) if vs.start_time is not None else 0.0
        fps = float(vs.average_rate or vs.guessed_rate or 0)
        seconds = 0.0
        if vs.duration:
            seconds = float(vs.duration * tb)
        elif vs.frames and fps:
            seconds = vs.frames / fps
        elif box.duration:
            seconds = box.duration / 1e6
        if seconds <= 0:
            raise DataError(f"{path}: cannot read the video's duration; re-encode it")
        return VideoTrack(path, seconds, start, int(vs.frames or 0))


# --------------------------------------------------------------------------- windows


def windows(total: int, window: int, crossfade: int) -> list[int]:
    """Start samples of windows of `window` samples covering `total`, overlapping >= `crossfade`.

    One window (of `total` samples) when the video is not longer than a window.
    """
    if total <= window:
        return [0]
    hop = window - crossfade
    starts = list(range(0, total - window, hop))
    return [*starts, total - window]


def join(parts: list[np.ndarray], starts: list[int], total: int, crossfade: int) -> np.ndarray:
    """Lay mono windows end to end; each overlap keeps the earlier window until an equal-power
    crossfade over its last `crossfade` samples (the windows' noise is independent)."""
    out = np.zeros(total, dtype=np.float32)
    end = 0
    for part, start in zip(parts, starts, strict=True):
        overlap = end - start
        fade = min(crossfade, overlap)
        if fade > 0:
            ramp = (np.arange(fade) + 0.5) / fade * (np.pi / 2)
            seg = slice(end - fade, end)
            out[seg] = out[seg] * np.cos(ramp) + part[overlap - fade : overlap] * np.sin(ramp)
        out[end : start + len(part)] = part[max(overlap, 0) :]
        end = start + len(part)
    return out


# --------------------------------------------------------------------------- conditions


@torch.no_grad()
def caption_features(enc: Encoders, caption: str) -> dict[str, torch.Tensor]:
    """CLIP text tokens [1, L, Dt] and mask [1, L], as the cache computes them."""
    tok = enc.tokenizer(
        caption,
        padding="max_length",
        truncation=True,
        max_length=enc.settings.text_tokens,
        return_tensors="pt",
    )
    text = enc.text(input_ids=tok["input_ids"], attention_mask=tok["attention_mask"])
    return {
        "text": text.last_hidden_state.float(),
        "text_mask": tok["attention_mask"].to(torch.int64),
    }


@torch.no_grad()
def window_features(
    enc: Encoders, video: Path, start: float, seconds: float
) -> dict[str, torch.Tensor]:
    """CLIP frames [1, N, Dc] and motion energy [1, S, Ds] of one window, as the cache computes them
    (`Encoders.encode` without the audio, which a video to score has no need of)."""
    s = enc.settings
    frames, times = read_clip_frames(video, start, seconds, FRAME_HEIGHT)
    picks = frames[frames_at(times, seconds, s.clip_fps)]
    pixels = enc.processor(images=list(picks), return_tensors="pt")["pixel_values"]
    sync = on_grid(motion_energy(frames, s.sync_grid), times, seconds, s.sync_fps)
    return {
        "clip": enc.vision(pixel_values=pixels).image_embeds.float()[None],
        "sync": torch.from_numpy(sync).float()[None],
    }


def check_dims(model, enc: Encoders, where: str) -> None:
    """The DiT's input sizes against the encoders', as one line naming the first that differs."""
    found = {
        "latent_dim": latent_channels(enc.codec),
        "clip_dim": int(enc.vision.config.projection_dim),
        "sync_dim": enc.settings.sync_grid**2 + 1,
        "text_dim": int(enc.text.config.hidden_size),
    }
    for k, v in found.items():
        if model.config[k] != v:
            raise DataError(
                f"{where}: the DiT has {k}={model.config[k]} but the encoders give {v}; "
                "use the encoders the base was trained with"
            )


# --------------------------------------------------------------------------- model


def check_adapter_meta(meta: dict, settings: CacheSettings, folder: str) -> None:
    """Refuse an adapter from another family or trained on features of other encoders/settings."""
    if meta.get("family") != "v2a":
        raise DataError(f"{folder}: not a v2a adapter (family {meta.get('family')!r})")
    for name, trained in (meta.get("encoders") or {}).items():
        given = getattr(settings, name)
        if trained != given:
            flag = "--" + name.replace("_", "-")
            raise DataError(
                f"{folder}: trained with {name} {trained!r}, not {given!r}; "
                f"pass {flag} {trained} (the adapter only fits its own encoders)"
            )
    if meta.get("cache_key") and meta["cache_key"] != settings.hash():
        raise DataError(
            f"{folder}: trained on features with other settings or encoder weights (cache key "
            f"{meta['cache_key']}, these give {settings.hash()}); pass the v2a.* settings of "
            "its training config"
        )


def resolve(opts, model: str | None, adapter: str | None) -> tuple[str, CacheSettings]:
    """The base name and feature settings: what was given, else what the adapter records, else the
    bundled v2a-mini; encoders still unset come from the base's own folder."""
    from .bases import DEFAULT_BASE, with_base_encoders

    meta: dict = {}
    if adapter:
        from ...adapters import read_adapter_metadata

        meta = read_adapter_metadata(adapter)
    trained = meta.get("encoders") or {}
    filled = {k: getattr(opts, k) or trained.get(k) for k in ("codec", "clip_model", "text_model")}
    model = model or meta.get("base") or DEFAULT_BASE
    opts = with_base_encoders(opts.model_copy(update=filled), model)
    return model, CacheSettings.from_options(opts)


def load_model(name: str, settings: CacheSettings, adapter: str | None, scale: float):
    """The base DiT with the adapter (if any) loaded at `scale`, in eval mode."""
    from .bases import load_base

    model = load_base(name)
    if adapter:
        from ...adapters import load_adapter, read_adapter_metadata, set_adapter_weights

        check_adapter_meta(read_adapter_metadata(adapter), settings, adapter)
        load_adapter(model, adapter)
        set_adapter_weights(model, {"default": float(scale)})
    return model.eval().requires_grad_(False)


# --------------------------------------------------------------------------- generate


@dataclass(frozen=True)
class Soundtrack:
    audio: np.ndarray  # mono float32 [samples]
    samplerate: int
    windows: int


def soundtrack(
    video: Path,
    model,
    enc: Encoders,
    *,
    window: float,
    crossfade: float,
    steps: int,
    seed: int,
    guidance: float,
    caption: str | None = None,
    progress=None,
) -> Soundtrack:
    """Sample every window of the video's own duration and join them."""
    track = probe_video_track(video)
    sr = enc.samplerate
    hop = int(np.prod(enc.codec.config.downsampling_ratios))
    total = int(round(track.seconds * sr))
    size = min(int(round(window * sr)), total)
    fade = min(int(round(crossfade * sr)), size // 2)
    starts = windows(total, size, fade)
    text = caption_features(enc, caption if caption is not None else caption_for(video))
    latent_dim = latent_channels(enc.codec)
    parts = []
    for k in progress(range(len(starts))) if progress else range(len(starts)):
        t0 = track.start + starts[k] / sr
        batch = {**text, **window_features(enc, video, t0, size / sr)}
        # latents only give the shape; one frame past the cache's floor covers the window's end
        batch["latents"] = torch.zeros(1, math.ceil(size / hop), latent_dim)
        z = sample_latents(model, batch, steps, seed + k, guidance)
        parts.append(decode(enc.codec, z[0])[:size])
    return Soundtrack(join(parts, starts, total, fade), sr, len(starts))


def mux(video: Path, audio: np.ndarray, samplerate: int, out: Path) -> str:
    """Write `out` atomically: the video stream of `video` and `audio` as AAC; returns 'remuxed' or
    're-encoded' (when the container refuses the input's video codec as it is)."""
    import av

    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=out.suffix, dir=out.parent)
    os.close(fd)
    try:
        try:
            _write(video, audio, samplerate, tmp, reencode=False)
            how = "remuxed"
        except (av.FFmpegError, ValueError):
            try:
                _write(video, audio, samplerate, tmp, reencode=True)
            except av.FFmpegError as exc:
                raise DataError(
                    f"{video}: cannot put its video stream into {out.suffix} ({exc}); "
                    "re-encode the video (e.g. to h264) first"
                ) from None
            how = "re-encoded"
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return how


def _aac_packets(stream, audio: np.ndarray, samplerate: int, first: int) -> list:
    import av

    packets, chunk = [], 1024
    for i in range(0, len(audio), chunk):
        part = np.ascontiguousarray(audio[None, i : i + chunk], dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(part, format="fltp", layout="mono")
        frame.sample_rate, frame.pts = samplerate, first + i
        frame.time_base = Fraction(1, samplerate)
        packets += stream.encode(frame)
    return packets + stream.encode(None)


def _write(video: Path, audio: np.ndarray, samplerate: int, target: str, reencode: bool) -> None:
    import av

    with _open(video) as src, av.open(target, "w") as dst:
        vin = src.streams.video[0]
        if reencode:
            vout = dst.add_stream("libx264", rate=vin.average_rate or vin.guessed_rate or 25)
            vout.width, vout.height = vin.width // 2 * 2, vin.height // 2 * 2
            vout.pix_fmt, vout.options = "yuv420p", {"crf": "18", "bf": "0"}
        else:
            vout = dst.add_stream_from_template(vin)
        aout = dst.add_stream("aac", rate=samplerate, layout="mono")
        start = float(vin.start_time * vin.time_base) if vin.start_time else 0.0
        pending = _aac_packets(aout, audio, samplerate, int(round(start * samplerate)))

        def flush(until: float | None) -> None:
            # interleave by time so the muxer need not buffer a whole stream
            while pending and (until is None or pending[0].pts * pending[0].time_base <= until):
                dst.mux(pending.pop(0))

        if reencode:
            for i, frame in enumerate(src.decode(vin)):
                frame = frame.reformat(vout.width, vout.height, "yuv420p")
                frame.pts, frame.time_base = i, Fraction(1) / vout.codec_context.framerate
                for packet in vout.encode(frame):
                    flush(float(packet.pts * packet.time_base))
                    dst.mux(packet)
            for packet in vout.encode(None):
                dst.mux(packet)
        else:
            for packet in src.demux(vin):
                if packet.dts is None:
                    continue
                flush(float(packet.dts * packet.time_base))
                packet.stream = vout
                dst.mux(packet)
        flush(None)


def generate_video(
    video: str | os.PathLike,
    out: str | os.PathLike,
    *,
    model: str,
    settings: CacheSettings,
    adapter: str | None = None,
    scale: float = 1.0,
    window: float = 2.0,
    crossfade: float = 0.2,
    steps: int = 16,
    seed: int = 0,
    guidance: float = 1.0,
    caption: str | None = None,
    progress=None,
) -> dict:
    """OUT (video + generated AAC soundtrack) and OUT.wav; returns a summary for the CLI."""
    video, out = Path(video), Path(out)
    if out.suffix.lower() not in OUT_SUFFIXES:
        raise UsageError(f"--out {out}: give a {', '.join(OUT_SUFFIXES)} file")
    if crossfade < 0 or window <= 0:
        raise UsageError(f"crossfade {crossfade:g} s / window {window:g} s: must be >= 0 / > 0")
    if video.resolve() == out.resolve():
        raise UsageError(f"--out {out}: the same file as the input video; write elsewhere")
    if not video.is_file():
        raise DataError(f"{video}: no such video file")
    probe_video_track(video)  # refuse a bad video before loading any model
    net = load_model(model, settings, adapter, scale)
    enc = Encoders(settings)
    check_dims(net, enc, model)
    track = soundtrack(
        video,
        net,
        enc,
        window=window,
        crossfade=crossfade,
        steps=steps,
        seed=seed,
        guidance=guidance,
        caption=caption,
        progress=progress,
    )
    wav = write_audio(out.with_suffix(".wav"), track.audio[None], track.samplerate)
    how = mux(video, track.audio, track.samplerate, out)
    seconds = len(track.audio) / track.samplerate
    return {"out": out, "wav": wav, "seconds": seconds, "windows": track.windows, "video": how}
