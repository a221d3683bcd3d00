"""The frozen feature cache: every clip's inputs to the v2a DiT, computed once with frozen encoders.

Per clip (`clips/<id>.safetensors`): `latents` [T, C] (the Oobleck codec's posterior mean),
`clip` [N, Dc] (CLIP image embeddings at `clip_fps`), `sync` [S, g*g+1] (motion energy: the mean
absolute difference of consecutive grey frames at the video's own frame rate, per cell of a g x g
grid and over the whole picture, linearly interpolated onto a `sync_fps` grid so clips of videos
with different frame rates batch together), `text` [L, Dt] with `text_mask` [L] (CLIP text tokens of
the caption: `<video>.txt`, else a `<video>.json` sidecar's caption, else the file name).

`manifest.json` is keyed by the encoder ids (with a fingerprint of local folders) and a hash of the
settings; a cache built with other encoders or settings is refused. Training reads only this cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ...data.video import Clip, read_clip_audio, read_clip_frames
from ...errors import DataError

FORMAT = "audiolora-v2a-cache/1"
FRAME_HEIGHT = 224  # frames are scaled down to this height while decoding (aspect kept)


@dataclass(frozen=True)
class CacheSettings:
    """What the cache depends on besides the clips: encoders and feature settings."""

    codec: str
    clip_model: str
    text_model: str
    clip_fps: float = 8.0
    sync_fps: float = 24.0
    sync_grid: int = 4
    text_tokens: int = 16

    @classmethod
    def from_options(cls, opts) -> CacheSettings:
        missing = [k for k in ("codec", "clip_model", "text_model") if not getattr(opts, k)]
        if missing:
            raise DataError(f"v2a.{missing[0]}: not set; give a hub id or a local folder")
        return cls(
            opts.codec,
            opts.clip_model,
            opts.text_model,
            opts.clip_fps,
            opts.sync_fps,
            opts.sync_grid,
            opts.text_tokens,
        )

    def key(self) -> dict[str, Any]:
        """The manifest key: encoder ids with fingerprints, and the settings."""
        out = {k: v for k, v in self.__dict__.items()}
        for name in ("codec", "clip_model", "text_model"):
            out[f"{name}_fingerprint"] = fingerprint(getattr(self, name))
        return out

    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.key(), sort_keys=True).encode()).hexdigest()[:16]


def fingerprint(model_id: str) -> str:
    """A local folder: hash of its config files and weight file names and sizes; a hub id: itself."""
    path = Path(model_id)
    if not path.is_dir():
        return model_id
    h = hashlib.sha256()
    for f in sorted(path.rglob("*")):
        if f.is_file():
            h.update(f.relative_to(path).as_posix().encode())
            if f.suffix == ".json":
                h.update(f.read_bytes())
            else:
                h.update(str(f.stat().st_size).encode())
    return h.hexdigest()[:16]


# --------------------------------------------------------------------------- features


def motion_energy(frames: np.ndarray, grid: int) -> np.ndarray:
    """[N, grid*grid + 1]: mean |frame_i - frame_{i-1}| of grey frames per grid cell, then overall."""
    grey = frames.astype(np.float32).mean(-1) / 255.0
    diff = np.abs(np.diff(grey, axis=0, prepend=grey[:1]))
    n, h, w = diff.shape
    ys = np.linspace(0, h, grid + 1).astype(int)
    xs = np.linspace(0, w, grid + 1).astype(int)
    cells = [
        diff[:, ys[i] : ys[i + 1], xs[j] : xs[j + 1]].mean(axis=(1, 2))
        for i in range(grid)
        for j in range(grid)
    ]
    return np.stack([*cells, diff.mean(axis=(1, 2))], axis=1)


def on_grid(values: np.ndarray, times: np.ndarray, seconds: float, fps: float) -> np.ndarray:
    """Per-frame `values` [N, D] at `times` -> [round(seconds * fps), D] by linear interpolation."""
    grid = np.arange(int(round(seconds * fps))) / fps
    return np.stack([np.interp(grid, times, values[:, d]) for d in range(values.shape[1])], 1)


def frames_at(times: np.ndarray, seconds: float, fps: float) -> np.ndarray:
    """Index of the frame on screen at each tick of an `fps` grid over the clip."""
    ticks = np.arange(int(round(seconds * fps))) / fps
    return np.clip(np.searchsorted(times, ticks + 1e-6, side="right") - 1, 0, len(times) - 1)


def caption_for(video: Path) -> str:
    txt = video.with_suffix(".txt")
    if txt.is_file():
        return txt.read_text(encoding="utf-8").strip()
    from ...data.captions import read_sidecar

    side = read_sidecar(video)
    if side is not None and side.caption:
        return side.caption
    return video.stem.replace("_", " ").replace("-", " ")


def events_for(video: Path, start: float, seconds: float) -> list[float] | None:
    """Ground-truth visual event times inside the clip (from `<video>.onsets.json`), or None."""
    truth = video.with_suffix(".onsets.json")
    if not truth.is_file():
        return None
    events = json.loads(truth.read_text())["events"]
    return [round(t - start, 6) for t in events if start <= t < start + seconds]


# --------------------------------------------------------------------------- encoders


def load_codec(model_id: str):
    """The frozen audio codec (AutoencoderOobleck or gen-mini's MelCodec), alone or a pipeline's vae/."""
    from ..generation.codecs import load_codec as load_audio_codec

    sub = "vae" if (Path(model_id) / "vae" / "config.json").is_file() else None
    try:
        return load_audio_codec(model_id, subfolder=sub)
    except (OSError, ValueError) as exc:
        raise DataError(f"v2a.codec={model_id}: cannot load an audio codec ({exc})") from None


def latent_channels(codec) -> int:
    """Latent channels of an AutoencoderOobleck (`decoder_input_channels`) or a MelCodec (`n_mels`)."""
    c = codec.config
    return int(c["decoder_input_channels"] if "decoder_input_channels" in c else c["n_mels"])


class Encoders:
    """The frozen encoders, loaded only while a cache is built (and the codec for evaluation)."""

    def __init__(self, settings: CacheSettings):
        from transformers import (
            AutoImageProcessor,
            AutoTokenizer,
            CLIPTextModelWithProjection,
            CLIPVisionModelWithProjection,
        )

        self.settings = settings
        self.codec = load_codec(settings.codec)
        try:
            self.vision = CLIPVisionModelWithProjection.from_pretrained(settings.clip_model).eval()
            self.processor = AutoImageProcessor.from_pretrained(settings.clip_model)
        except (OSError, ValueError) as exc:
            raise DataError(f"v2a.clip_model={settings.clip_model}: cannot load ({exc})") from None
        try:
            self.text = CLIPTextModelWithProjection.from_pretrained(settings.text_model).eval()
            self.tokenizer = AutoTokenizer.from_pretrained(settings.text_model)
        except (OSError, ValueError) as exc:
            raise DataError(f"v2a.text_model={settings.text_model}: cannot load ({exc})") from None
        self.samplerate = int(self.codec.config.sampling_rate)
        self.channels = int(self.codec.config.audio_channels)

    @torch.no_grad()
    def encode(self, video: Path, clip: Clip) -> dict[str, torch.Tensor]:
        s = self.settings
        audio = read_clip_audio(video, clip.start, clip.seconds, self.samplerate, self.channels)
        latents = self.codec.encode(torch.from_numpy(audio)[None]).latent_dist.mean[0].T
        frames, times = read_clip_frames(video, clip.start, clip.seconds, FRAME_HEIGHT)
        picks = frames[frames_at(times, clip.seconds, s.clip_fps)]
        pixels = self.processor(images=list(picks), return_tensors="pt")["pixel_values"]
        clip_emb = self.vision(pixel_values=pixels).image_embeds
        sync = on_grid(motion_energy(frames, s.sync_grid), times, clip.seconds, s.sync_fps)
        tok = self.tokenizer(
            caption_for(video),
            padding="max_length",
            truncation=True,
            max_length=s.text_tokens,
            return_tensors="pt",
        )
        text = self.text(input_ids=tok["input_ids"], attention_mask=tok["attention_mask"])
        return {
            "latents": latents.float().contiguous(),
            "clip": clip_emb.float().contiguous(),
            "sync": torch.from_numpy(sync).float().contiguous(),
            "text": text.last_hidden_state[0].float().contiguous(),
            "text_mask": tok["attention_mask"][0].to(torch.int64),
        }


# --------------------------------------------------------------------------- the cache


def _write_json(path: Path, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    save_file(tensors, tmp)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def read_manifest(cache_dir: str | os.PathLike) -> dict[str, Any]:
    path = Path(cache_dir) / "manifest.json"
    if not path.is_file():
        raise DataError(
            f"{cache_dir}: no v2a feature cache here; build it with `audiolora v2a cache`"
        )
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise DataError(f"{path}: not a {FORMAT} manifest; rebuild the cache")
    return manifest


def check_manifest(manifest: dict, settings: CacheSettings, where: str | os.PathLike) -> None:
    """One-line refusal when the cache was built with other encoders or settings."""
    if manifest["hash"] == settings.hash():
        return
    now, then = settings.key(), manifest["key"]
    diff = [k for k in now if now[k] != then.get(k)]
    shown = ", ".join(f"{k} {then.get(k)!r} -> {now[k]!r}" for k in diff[:3])
    raise DataError(
        f"{where}: stale feature cache (built with other encoders or settings: {shown}); "
        "rebuild it (`audiolora v2a cache --rebuild`) or use another cache folder"
    )


def build_cache(
    clips: list[Clip],
    video_root: str | os.PathLike,
    cache_dir: str | os.PathLike,
    settings: CacheSettings,
    rebuild: bool = False,
    progress=None,
) -> tuple[dict[str, Any], list[str]]:
    """Encode every clip not yet cached in one pass; returns (manifest, one line per failed clip)."""
    cache_dir, video_root = Path(cache_dir), Path(video_root)
    (cache_dir / "clips").mkdir(parents=True, exist_ok=True)
    old = None
    if (cache_dir / "manifest.json").is_file():
        old = read_manifest(cache_dir)
        if not rebuild:
            check_manifest(old, settings, cache_dir)
    done = {c["id"]: c for c in old["clips"]} if old and old["hash"] == settings.hash() else {}
    enc = Encoders(settings)
    entries, failed = [], []
    shapes: dict[str, list[int]] = {}
    for clip in progress(clips) if progress else clips:
        video = video_root / clip.video
        target = cache_dir / "clips" / f"{clip.id}.safetensors"
        entry = {**clip.__dict__, "events": events_for(video, clip.start, clip.seconds)}
        if clip.id in done and target.is_file() and done[clip.id]["start"] == clip.start:
            entries.append(entry)
            continue
        try:
            tensors = enc.encode(video, clip)
        except DataError as exc:
            failed.append(str(exc))
            continue
        _save_tensors(target, tensors)
        shapes = {k: list(v.shape) for k, v in tensors.items()}
        entries.append(entry)
    codec = enc.codec.config
    hop = int(np.prod(codec.downsampling_ratios))
    manifest = {
        "format": FORMAT,
        "key": settings.key(),
        "hash": settings.hash(),
        "video_root": str(video_root),
        "samplerate": int(codec.sampling_rate),
        "channels": int(codec.audio_channels),
        "latent_rate": codec.sampling_rate / hop,
        "dims": {
            "latent_dim": latent_channels(enc.codec),
            "clip_dim": int(enc.vision.config.projection_dim),
            "sync_dim": settings.sync_grid**2 + 1,
            "text_dim": int(enc.text.config.hidden_size),
        },
        "shapes": shapes or (old or {}).get("shapes", {}),
        "clips": entries,
    }
    _write_json(cache_dir / "manifest.json", manifest)
    return manifest, failed


def load_clip_features(cache_dir: str | os.PathLike, clip_id: str) -> dict[str, torch.Tensor]:
    path = Path(cache_dir) / "clips" / f"{clip_id}.safetensors"
    if not path.is_file():
        raise DataError(f"{path}: missing from the feature cache; rebuild it")
    return load_file(str(path))
