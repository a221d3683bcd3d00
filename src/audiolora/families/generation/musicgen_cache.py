"""The MusicGen cache: captions -> T5 states as the decoder sees them, audio -> EnCodec codes.

Same layout, manifest and staleness rule as `cache.py` (whose helpers it uses):
  manifest.json                 model, settings hash, one entry per clip (frames = code frames)
  shared.safetensors            the unconditional input, frame rate, codebooks, decoder start token
  clips/<n>.cond.safetensors    encoder_hidden_states [L, D], encoder_attention_mask [L]
  clips/<n>.codes.safetensors   codes [K, T] int64
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from safetensors.torch import load_file

from ...audio import read_audio
from ...data.captions import CaptionedAudio
from .bases import resolve_location
from .cache import LatentCache, _save, publish_cache, start_cache
from .musicgen_model import (
    encode_audio,
    encode_text,
    frame_rate,
    load_musicgen,
    start_token,
    unconditional,
)


def caption_text(item: CaptionedAudio) -> str:
    """MusicGen is conditioned on a text description only (no lyrics or metadata inputs)."""
    return item.meta.caption or ""


def build_code_cache(
    model: str, items: list[CaptionedAudio], folder: str | os.PathLike, *, two_pass: bool = False
) -> Path:
    """Encode `items` with the checkpoint's own T5 and EnCodec into `folder` (atomic: temp dir)."""
    if two_pass:
        warnings.warn(
            "generation.two_pass: a MusicGen checkpoint is one file, loaded once; building in one pass",
            stacklevel=2,
        )
    location = resolve_location(model)
    folder = Path(folder)
    tmp = start_cache(folder)
    full, processor = load_musicgen(model)
    sr = int(full.config.audio_encoder.sampling_rate)
    channels = int(full.decoder.config.audio_channels)
    _save(
        {
            **unconditional(full),
            "frame_rate": torch.tensor(frame_rate(full), dtype=torch.float64),
            "codebooks": torch.tensor(full.decoder.num_codebooks),
            "start_token": torch.tensor(start_token(full)),
        },
        tmp / "shared.safetensors",
    )
    frames = []
    for i, item in enumerate(items):
        _save(
            encode_text(full, processor, caption_text(item)),
            tmp / "clips" / f"{i:05d}.cond.safetensors",
        )
        wave, _ = read_audio(item.path, samplerate=sr, channels=channels)
        codes = encode_audio(full, processor, wave)
        _save({"codes": codes}, tmp / "clips" / f"{i:05d}.codes.safetensors")
        frames.append(int(codes.shape[1]))
    del full
    return publish_cache(tmp, folder, model, location, items, frames, kind="musicgen")


class CodeCache(LatentCache):
    """A built MusicGen cache: LatentCache's manifest, freshness check and conditions, plus codes."""

    def codes(self, index: int) -> torch.Tensor:
        path = self.folder / "clips" / f"{self.entries[index].stem}.codes.safetensors"
        return load_file(str(path))["codes"]
