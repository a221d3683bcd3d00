"""Stable Audio 3 through the stock StableAudio3Pipeline: cache, objective, family, sampling.

What the pipeline's `__call__` does, split into the parts training needs:
- conditions: `encode_prompt` (T5Gemma, padded to the tokenizer's length, with its mask) and
  `encode_duration` (StableAudio3DurationEmbedder); `prepare_cross_attention` appends the duration
  as one more cross-attention token, and the same duration vector is the DiT's global input;
- unconditional: `encode_prompt("")` (its own mask) + the same duration token and global input,
  which is what CFG dropout feeds;
- objective: FlowMatchEulerDiscreteScheduler's rectified flow, x_t = (1 - s) x0 + s noise, target
  v = noise - x0 (objective.py), the DiT called with the scheduler's timestep s * num_train_timesteps
  (read from the checkpoint's scheduler config) after the scheduler's own shift.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from ...audio import read_audio
from ...data.captions import CaptionedAudio
from ...errors import ConfigError
from . import inference
from .cache import LatentCache, _save, build_text_then_audio
from .dataset import LatentClips, collate_clips
from .family import KIND_FAMILIES, GenerationFamily
from .objective import flow_matching_loss, noisy_latents_and_target
from .stable_audio import clip_seconds

KIND = "stable-audio-3"
# guidance when none is asked: the distilled checkpoint has CFG baked in (the pipeline's 1.0); the
# base checkpoint needs CFG (4.0, as Stability's hosted base examples use). Steps: the pipeline's own.
GUIDANCE = {"turbo": 1.0, "base": 4.0}


# ---------------------------------------------------------------------- conditions and cache


def text_side(location: str):
    """Tokenizer, T5Gemma encoder and duration embedder, holding the pipeline's `encode_prompt`,
    `encode_duration` and `prepare_cross_attention` (the pipeline needs its DiT and VAE to be built)."""
    from diffusers import StableAudio3Pipeline
    from diffusers.pipelines.stable_audio_3.modeling_stable_audio_3 import (
        StableAudio3DurationEmbedder,
    )
    from transformers import AutoTokenizer, T5GemmaEncoderModel

    parts = SimpleNamespace(
        tokenizer=AutoTokenizer.from_pretrained(location, subfolder="tokenizer"),
        text_encoder=T5GemmaEncoderModel.from_pretrained(location, subfolder="text_encoder").eval(),
        duration_embedder=StableAudio3DurationEmbedder.from_pretrained(
            location, subfolder="duration_embedder"
        ).eval(),
    )
    for name in ("encode_prompt", "encode_duration", "prepare_cross_attention"):
        setattr(parts, name, getattr(StableAudio3Pipeline, name).__get__(parts))
    return parts


def encode_condition(parts, caption: str, seconds: float) -> dict[str, torch.Tensor]:
    """{"encoder_hidden_states" [L + 1, D]: prompt tokens then the duration token,
    "encoder_attention_mask" [L + 1]: the tokenizer's mask then 1} -- the DiT's cross-attention
    input; its global input is the last token (the duration embedding)."""
    device = torch.device("cpu")
    prompt, mask = parts.encode_prompt([caption], device, 1)
    duration = parts.encode_duration(float(seconds), device, 1, 1)
    hidden, mask = parts.prepare_cross_attention(prompt, mask, duration)
    return {
        "encoder_hidden_states": hidden[0].contiguous(),
        "encoder_attention_mask": mask[0].to(torch.uint8),
    }


def latents_per_second(location: str) -> float:
    from diffusers import AutoencoderSAME

    config = AutoencoderSAME.load_config(location, subfolder="vae")
    return config["sampling_rate"] / (config["patch_size"] * math.prod(config["encoder_strides"]))


def _encode_text(parts, items: list[CaptionedAudio], folder: Path, lps: float) -> None:
    with torch.no_grad():
        for i, item in enumerate(items):
            cond = encode_condition(parts, item.meta.caption or "", clip_seconds(item))
            _save(cond, folder / "clips" / f"{i:05d}.cond.safetensors")
        null, null_mask = parts.encode_prompt([""], torch.device("cpu"), 1)
    _save(
        {
            "null_prompt_embeds": null[0],
            "null_prompt_mask": null_mask[0].to(torch.uint8),
            "latents_per_second": torch.tensor(lps, dtype=torch.float64),
        },
        folder / "shared.safetensors",
    )


def _encode_audio(vae, items: list[CaptionedAudio], folder: Path) -> list[int]:
    """SAME latents [T, C] per clip (the encoder is deterministic: no distribution to sample)."""
    frames = []
    sr, channels = int(vae.config.sampling_rate), int(vae.config.audio_channels)
    with torch.no_grad():
        for i, item in enumerate(items):
            wave, _ = read_audio(item.path, samplerate=sr, channels=channels)
            x = torch.from_numpy(wave)[None].to(vae.dtype)
            latents = vae.encode(x).latents[0].transpose(0, 1).contiguous()
            _save({"latents": latents}, folder / "clips" / f"{i:05d}.latents.safetensors")
            frames.append(int(latents.shape[0]))
    return frames


def build_cache(
    model: str, items: list[CaptionedAudio], folder: str | os.PathLike, *, two_pass: bool = False
) -> Path:
    """cache.build_cache for Stable Audio 3: the same layout and manifest, its own encoders."""
    from diffusers import AutoencoderSAME

    def encode_text(location: str, tmp: Path) -> None:
        _encode_text(text_side(location), items, tmp, latents_per_second(location))

    return build_text_then_audio(
        model,
        items,
        folder,
        two_pass=two_pass,
        encode_text=encode_text,
        load_codec=lambda loc: AutoencoderSAME.from_pretrained(loc, subfolder="vae").eval(),
        encode_audio=lambda vae, tmp: _encode_audio(vae, items, tmp),
    )


# ---------------------------------------------------------------------- objective


def load_scheduler(location: str):
    """The checkpoint's own FlowMatchEulerDiscreteScheduler (its config decides the timestep scale)."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    scheduler = FlowMatchEulerDiscreteScheduler.from_pretrained(location, subfolder="scheduler")
    if scheduler.config.use_dynamic_shifting:
        raise ConfigError(
            f"{location}/scheduler: use_dynamic_shifting is not a Stable Audio 3 setting; "
            "set it to false in scheduler_config.json"
        )
    return scheduler


def scheduler_variant(scheduler) -> str:
    """`turbo` for the distilled checkpoint (ping-pong, stochastic sampling), else `base`."""
    return "turbo" if scheduler.config.stochastic_sampling else "base"


def unconditional(hidden, mask, null_prompt, null_mask, drop):
    """Where `drop` [B]: the prompt part replaced by encode_prompt("")'s, the duration token kept."""
    d = drop.view(-1, 1)
    null_hidden = torch.cat(
        [null_prompt.to(hidden).expand(hidden.shape[0], -1, -1), hidden[:, -1:]], 1
    )
    null_m = torch.cat([null_mask.to(mask).expand(mask.shape[0], -1), mask[:, -1:]], 1)
    return torch.where(d[..., None], null_hidden, hidden), torch.where(d, null_m, mask)


def velocity(transformer, x_t, timestep, hidden, mask) -> torch.Tensor:
    """The DiT's velocity for latents [B, T, C]; its global input is the duration token (last)."""
    out = transformer(
        x_t.transpose(1, 2),
        timestep,
        encoder_hidden_states=hidden,
        global_hidden_states=hidden[:, -1],
        encoder_attention_mask=mask,
        return_dict=False,
    )[0]
    return out.transpose(1, 2)


# ---------------------------------------------------------------------- family


class StableAudio3Family(GenerationFamily):
    """Stable Audio 3 (StableAudio3Pipeline): the cache and rectified-flow objective of this module."""

    cache_builder = staticmethod(build_cache)
    samples_while_training = False

    def load_transformer(self) -> nn.Module:
        from diffusers import StableAudio3DiTModel

        return StableAudio3DiTModel.from_pretrained(self.location, subfolder="transformer")

    def prepare(self, model: nn.Module, cache: LatentCache) -> None:
        self.scheduler = load_scheduler(self.location)
        auto = scheduler_variant(self.scheduler)
        self.variant = self.options.variant if self.options.variant != "auto" else auto
        self.null_prompt = cache.shared["null_prompt_embeds"]
        self.null_mask = cache.shared["null_prompt_mask"]

    def _example_inputs(self, model) -> tuple:
        item = collate_clips([LatentClips(self._cache, [0], 8, random_crop=False)[0]])
        x = torch.randn_like(item["latents"]).transpose(1, 2)
        hidden = item["encoder_hidden_states"]
        t = torch.full((1,), 0.5 * self.scheduler.config.num_train_timesteps)
        return (x, t, hidden, hidden[:, -1], item["encoder_attention_mask"])

    def train_shift(self) -> float:
        return float(
            self.scheduler.config.shift
        )  # set_timesteps applies it to the sampler's sigmas

    def loss_at(self, model, batch, fixed_sigma: float | None = None) -> torch.Tensor:
        """Rectified-flow loss; the DiT sees the scheduler's timestep sigma * num_train_timesteps."""
        x0 = batch["latents"]
        noise, sigma, drop = self._noise(batch, fixed_sigma)
        hidden = batch["encoder_hidden_states"].to(x0.dtype)
        hidden, mask = unconditional(
            hidden, batch["encoder_attention_mask"], self.null_prompt, self.null_mask, drop
        )
        x_t, target = noisy_latents_and_target(x0, noise, sigma)
        timestep = sigma.to(x0.dtype) * self.scheduler.config.num_train_timesteps
        prediction = velocity(model, x_t, timestep, hidden, mask)
        return flow_matching_loss(prediction, target, batch["frame_mask"])


# ---------------------------------------------------------------------- sampling


def run_pipeline(
    pipe,
    prompts: list[str],
    *,
    duration: float = 10.0,
    seed: int = 0,
    steps: int | None = None,
    guidance: float | None = None,
    variant: str | None = None,
    on_step=None,
    **_: Any,
) -> np.ndarray:
    """inference.run_pipeline for StableAudio3Pipeline, with its own argument names; lyrics and shift
    do not apply (the scheduler config holds the shift). Steps default to the pipeline's own (8
    distilled / 100 base). Audio [n, channels, samples] (seed + i for prompt i)."""
    longest = float(pipe.duration_embedder.config.max_val)
    if not 0 < duration <= longest:
        raise ConfigError(
            f"duration={duration}: this Stable Audio 3 checkpoint is conditioned on durations up to "
            f"{longest:g} s (duration_embedder max_val); ask for less"
        )
    variant = variant or scheduler_variant(pipe.scheduler)
    scale = float(guidance if guidance is not None else GUIDANCE[variant])
    callback = None
    if on_step is not None:

        def callback(p, step, t, kwargs):
            on_step(step + 1, p.num_timesteps)
            return {}

    out = []
    for i, prompt in enumerate(prompts):
        with torch.no_grad():
            audio = pipe(
                prompt=prompt,
                duration=float(duration),
                num_inference_steps=steps,
                guidance_scale=scale,
                generator=torch.Generator().manual_seed(int(seed) + i),
                callback_on_step_end=callback,
            ).audios
        out.append(audio[0].float().cpu().numpy())
    return np.stack(out)


KIND_FAMILIES[KIND] = StableAudio3Family
inference.RUNNERS[KIND] = run_pipeline
