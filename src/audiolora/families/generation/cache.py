"""The preprocessing cache: every clip encoded once by the checkpoint's own encoders.

Layout of a cache folder:
  manifest.json               model, settings hash, one entry per clip (file, caption, frames)
  shared.safetensors          what training needs of the encoders: null-condition embedding, silence latent
  clips/<n>.cond.safetensors  condition-encoder output for the clip's caption (hidden states, mask)
  clips/<n>.latents.safetensors  VAE latents [frames, channels] (the distribution mean: deterministic)

One pass loads the encoders together; `two_pass` loads the text side, encodes every caption, frees
it, then loads the autoencoder for the audio. Each file is written by the same function in both
modes, so the two caches are byte-identical. Training reads only this folder.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from ...audio import read_audio
from ...data.captions import CaptionedAudio
from ...errors import DataError
from . import ace_step
from .bases import load_pipeline, resolve_location

FORMAT = "audiolora-generation-cache/1"
TEXT_SIDE = ("text_encoder", "tokenizer", "condition_encoder")


@contextmanager
def random_state_kept():
    """Run a block (a cache build) without moving the caller's random streams. Loading encoders
    draws random numbers; the adapter's init draws next, so without this a run that builds its
    cache would start from other weights than the same run over the finished cache."""
    from ...train.checkpoint import capture_rng, restore_rng

    saved = capture_rng()
    try:
        yield
    finally:
        restore_rng(saved)


@dataclass(frozen=True)
class CacheEntry:
    file: str
    caption: str
    frames: int
    stem: str  # clips/<stem>.{cond,latents}.safetensors


def _save(tensors: dict[str, torch.Tensor], path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp))
    os.replace(tmp, path)


def model_fingerprint(location: str) -> str:
    """Identity of a checkpoint: its location plus, for a local folder, its configs and weight sizes."""
    h = hashlib.sha256(location.encode())
    folder = Path(location)
    if folder.is_dir():
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.suffix in (".json", ".safetensors", ".txt"):
                h.update(str(path.relative_to(folder)).encode())
                h.update(
                    path.read_bytes()
                    if path.suffix == ".json"
                    else str(path.stat().st_size).encode()
                )
    return h.hexdigest()[:16]


def settings_hash(location: str, items: list[CaptionedAudio]) -> str:
    """Hash of everything a cache depends on: the model, every file (path, size, mtime) and caption."""
    h = hashlib.sha256(model_fingerprint(location).encode())
    for item in items:
        st = item.path.stat()
        h.update(f"{item.path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
        h.update(item.meta.model_dump_json().encode())
    return h.hexdigest()[:16]


def _latents_per_second(pipe, location: str) -> float:
    if pipe.vae is not None:
        return pipe.latents_per_second
    from diffusers import AutoencoderOobleck

    config = AutoencoderOobleck.load_config(location, subfolder="vae")
    hop = 1
    for r in config["downsampling_ratios"]:
        hop *= r
    return config["sampling_rate"] / hop


def _encode_text(pipe, location: str, items: list[CaptionedAudio], folder: Path) -> None:
    lps = _latents_per_second(pipe, location)
    _save(
        {
            "null_condition_emb": pipe.condition_encoder.null_condition_emb.detach(),
            "silence_latent": pipe.condition_encoder.silence_latent,
            "latents_per_second": torch.tensor(lps, dtype=torch.float64),
        },
        folder / "shared.safetensors",
    )
    with torch.no_grad():
        for i, item in enumerate(items):
            duration = item.meta.duration or 0.0
            cond = ace_step.encode_condition(pipe, item.meta, duration, lps)
            _save(cond, folder / "clips" / f"{i:05d}.cond.safetensors")


def _encode_audio(pipe, items: list[CaptionedAudio], folder: Path) -> list[int]:
    frames = []
    sr = int(pipe.vae.config.sampling_rate)
    channels = int(pipe.vae.config.audio_channels)
    with torch.no_grad():
        for i, item in enumerate(items):
            wave, _ = read_audio(item.path, samplerate=sr, channels=channels)
            latents = ace_step.encode_audio(pipe, torch.from_numpy(wave))
            _save({"latents": latents}, folder / "clips" / f"{i:05d}.latents.safetensors")
            frames.append(int(latents.shape[0]))
    return frames


def start_cache(folder: Path) -> Path:
    """The temporary folder a cache is built in (moved into place by publish_cache)."""
    tmp = folder.with_name(f".{folder.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "clips").mkdir(parents=True)
    return tmp


def publish_cache(
    tmp: Path,
    folder: Path,
    model: str,
    location: str,
    items: list[CaptionedAudio],
    frames: list[int],
    **extra,
) -> Path:
    """Write the manifest every kind's cache shares and move `tmp` into place."""
    manifest = {
        "format": FORMAT,
        **extra,
        "model": model,
        "settings_hash": settings_hash(location, items),
        "entries": [
            {
                "file": str(it.path),
                "caption": it.meta.caption or "",
                "frames": n,
                "stem": f"{i:05d}",
            }
            for i, (it, n) in enumerate(zip(items, frames, strict=True))
        ],
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    return folder


def build_cache(
    model: str, items: list[CaptionedAudio], folder: str | os.PathLike, *, two_pass: bool = False
) -> Path:
    """Encode `items` with `model`'s own encoders into `folder` (written atomically via a temp dir)."""
    location = resolve_location(model)
    folder = Path(folder)
    tmp = start_cache(folder)
    if two_pass:
        pipe = load_pipeline(model, skip=("vae", "transformer"))
        _encode_text(pipe, location, items, tmp)
        del pipe
        gc.collect()
        pipe = load_pipeline(model, skip=(*TEXT_SIDE, "transformer"))
        frames = _encode_audio(pipe, items, tmp)
    else:
        pipe = load_pipeline(model, skip=("transformer",))
        _encode_text(pipe, location, items, tmp)
        frames = _encode_audio(pipe, items, tmp)
    del pipe
    return publish_cache(tmp, folder, model, location, items, frames)


def build_text_then_audio(
    model: str,
    items: list[CaptionedAudio],
    folder: str | os.PathLike,
    *,
    two_pass: bool,
    encode_text: Callable[[str, Path], None],
    load_codec: Callable[[str], Any],
    encode_audio: Callable[[Any, Path], list[int]],
) -> Path:
    """The cache build of the kinds whose text side and codec load apart (Stable Audio, SA3):
    `encode_text(location, tmp)` loads and frees its encoders itself, so with `two_pass` the codec is
    loaded only after the text side is gone; one pass holds both. Written atomically."""
    location = resolve_location(model)
    folder = Path(folder)
    tmp = start_cache(folder)
    if two_pass:
        encode_text(location, tmp)
        gc.collect()
        codec = load_codec(location)
    else:
        codec = load_codec(location)
        encode_text(location, tmp)
    frames = encode_audio(codec, tmp)
    del codec
    return publish_cache(tmp, folder, model, location, items, frames)


class LatentCache:
    """A built cache folder: entries, shared tensors, and per-clip tensors on demand."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        manifest = self.folder / "manifest.json"
        if not manifest.is_file():
            raise DataError(
                f"{self.folder}: not a generation cache (no manifest.json); build it first"
            )
        data = json.loads(manifest.read_text())
        if data.get("format") != FORMAT:
            raise DataError(
                f"{manifest}: cache format {data.get('format')!r} unknown; delete the folder and rebuild"
            )
        self.model = data["model"]
        self.settings_hash = data["settings_hash"]
        self.entries = [CacheEntry(**e) for e in data["entries"]]
        self.shared = load_file(str(self.folder / "shared.safetensors"))

    def check_fresh(self, model: str, items: list[CaptionedAudio]) -> None:
        """Refuse a cache built from another model, other files or other captions."""
        expected = settings_hash(resolve_location(model), items)
        if expected != self.settings_hash:
            raise DataError(
                f"{self.folder}: stale cache (built for {self.model} with other audio files or captions); "
                "delete the folder or set generation.cache_dir to a new one, and it is rebuilt"
            )

    def condition(self, index: int) -> dict[str, torch.Tensor]:
        return load_file(
            str(self.folder / "clips" / f"{self.entries[index].stem}.cond.safetensors")
        )

    def latents(self, index: int) -> torch.Tensor:
        path = self.folder / "clips" / f"{self.entries[index].stem}.latents.safetensors"
        return load_file(str(path))["latents"]

    def __len__(self) -> int:
        return len(self.entries)
