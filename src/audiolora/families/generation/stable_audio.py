"""Stable Audio (1.0 / Open) through the stock StableAudioPipeline: cache, objective, family, sampling.

What the pipeline's `__call__` does, split into the parts training needs:
- conditions: `encode_prompt` (T5 + projection, pads zeroed) and `encode_duration` (seconds start /
  end through the projection model), concatenated as the pipeline feeds the DiT's cross-attention;
  the DiT's global input is the two seconds tokens side by side (the pipeline's `audio_duration_embeds`);
- unconditional: with no negative prompt the pipeline replaces the cross-attention input by zeros and
  keeps the seconds as the global input, so CFG dropout does exactly that;
- objective: the checkpoint's own scheduler (Cosine/EDM DPM-Solver): x = x0 + sigma * noise, the DiT
  sees `precondition_inputs(x)` at `precondition_noise(sigma)`, and the target is the output F for
  which `precondition_outputs(x, F) == x0` -- what the scheduler's step turns back into the clean latent
  (v-prediction with sigma_data = 1: F = cos(t) noise - sin(t) x0, t = atan(sigma)).
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

from ...audio import audio_info
from ...data.captions import CaptionedAudio
from ...errors import ConfigError
from . import inference
from .bases import sampling_defaults
from .cache import LatentCache, _encode_audio, _save, build_text_then_audio
from .dataset import LatentClips, collate_clips
from .family import KIND_FAMILIES, GenerationFamily
from .objective import flow_matching_loss

KIND = "stable-audio"


# ---------------------------------------------------------------------- conditions and cache


def text_side(location: str):
    """Tokenizer, T5 encoder and projection model, holding the pipeline's `encode_prompt` /
    `encode_duration` (the pipeline itself cannot be built without its DiT)."""
    from diffusers import StableAudioPipeline, StableAudioProjectionModel
    from transformers import AutoTokenizer, T5EncoderModel

    parts = SimpleNamespace(
        tokenizer=AutoTokenizer.from_pretrained(location, subfolder="tokenizer"),
        text_encoder=T5EncoderModel.from_pretrained(location, subfolder="text_encoder").eval(),
        projection_model=StableAudioProjectionModel.from_pretrained(
            location, subfolder="projection_model"
        ).eval(),
    )
    parts.encode_prompt = StableAudioPipeline.encode_prompt.__get__(parts)
    parts.encode_duration = StableAudioPipeline.encode_duration.__get__(parts)
    return parts


def clip_seconds(item: CaptionedAudio) -> float:
    if item.meta.duration:
        return float(item.meta.duration)
    info = audio_info(item.path)
    return info.frames / info.samplerate


def encode_condition(parts, caption: str, seconds: float) -> dict[str, torch.Tensor]:
    """{"encoder_hidden_states" [L + 2, D]: prompt tokens then seconds start / end,
    "encoder_attention_mask" [L + 2]: all ones (the pipeline gives the DiT no text mask)}."""
    device = torch.device("cpu")
    prompt = parts.encode_prompt([caption], device, False)
    start, end = parts.encode_duration(0.0, float(seconds), device, False, 1)
    hidden = torch.cat([prompt, start, end], dim=1)[0].contiguous()
    return {
        "encoder_hidden_states": hidden,
        "encoder_attention_mask": torch.ones(hidden.shape[0], dtype=torch.uint8),
    }


def _encode_text(parts, items: list[CaptionedAudio], folder: Path, lps: float) -> None:
    with torch.no_grad():
        conds = [
            encode_condition(parts, item.meta.caption or "", clip_seconds(item)) for item in items
        ]
        for i, cond in enumerate(conds):
            _save(cond, folder / "clips" / f"{i:05d}.cond.safetensors")
    like = conds[0]["encoder_hidden_states"] if conds else torch.zeros(0)
    _save(
        {
            "null_condition_emb": torch.zeros_like(like),
            "latents_per_second": torch.tensor(lps, dtype=torch.float64),
        },
        folder / "shared.safetensors",
    )


def _latents_per_second(location: str) -> float:
    from diffusers import AutoencoderOobleck

    config = AutoencoderOobleck.load_config(location, subfolder="vae")
    return config["sampling_rate"] / math.prod(config["downsampling_ratios"])


def build_cache(
    model: str, items: list[CaptionedAudio], folder: str | os.PathLike, *, two_pass: bool = False
) -> Path:
    """cache.build_cache for Stable Audio: the same layout and manifest, its own encoders."""
    from diffusers import AutoencoderOobleck

    def encode_text(location: str, tmp: Path) -> None:
        _encode_text(text_side(location), items, tmp, _latents_per_second(location))

    return build_text_then_audio(
        model,
        items,
        folder,
        two_pass=two_pass,
        encode_text=encode_text,
        load_codec=lambda loc: AutoencoderOobleck.from_pretrained(loc, subfolder="vae").eval(),
        encode_audio=lambda vae, tmp: _encode_audio(SimpleNamespace(vae=vae), items, tmp),
    )


# ---------------------------------------------------------------------- objective


def global_states(hidden: torch.Tensor) -> torch.Tensor:
    """The DiT's global input [B, 1, 2D]: the seconds start / end tokens (the last two) side by side."""
    return hidden[:, -2:, :].reshape(hidden.shape[0], 1, -1)


def edm_sigmas(t: torch.Tensor) -> torch.Tensor:
    """Stable Audio's v-diffusion time t in (0, 1) as the scheduler's sigma: tan(t * pi / 2)."""
    return torch.tan(t * (math.pi / 2))


def noisy_latents_and_target(scheduler, x0: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor):
    """(x = x0 + sigma * noise, DiT input, DiT timestep [B], target) in the scheduler's own terms.

    The target F solves `precondition_outputs(x, F, sigma) == x0`; c_skip and c_out are read off
    the scheduler's own precondition_outputs, so EDM and cosine schedulers and every prediction type
    get their own parameterisation.
    """
    s = sigma.to(x0.dtype).view(-1, *([1] * (x0.dim() - 1)))
    x = x0 + s * noise
    c_skip = scheduler.precondition_outputs(torch.ones_like(s), torch.zeros_like(s), s)
    c_out = scheduler.precondition_outputs(torch.zeros_like(s), torch.ones_like(s), s)
    target = (x0 - c_skip * x) / c_out
    model_in = scheduler.precondition_inputs(x, s)
    timestep = scheduler.precondition_noise(sigma.to(x0.dtype))
    return x, model_in, timestep, target


def dit_output(transformer, x: torch.Tensor, timestep: torch.Tensor, hidden, global_hidden):
    """The DiT's output for latents [B, T, C] (the pipeline's rotary embedding over T + 1 tokens)."""
    from diffusers.models.embeddings import get_1d_rotary_pos_embed

    rotary = get_1d_rotary_pos_embed(
        transformer.config.attention_head_dim // 2,
        x.shape[1] + global_hidden.shape[1],
        use_real=True,
        repeat_interleave_real=False,
    )
    out = transformer(
        x.transpose(1, 2),
        timestep,
        encoder_hidden_states=hidden,
        global_hidden_states=global_hidden,
        rotary_embedding=rotary,
        return_dict=False,
    )[0]
    return out.transpose(1, 2)


def load_scheduler(location: str):
    """The checkpoint's own scheduler (its class and config from scheduler/scheduler_config.json)."""
    import diffusers

    config = diffusers.EDMDPMSolverMultistepScheduler.load_config(location, subfolder="scheduler")
    return getattr(diffusers, config["_class_name"]).from_config(config)


# ---------------------------------------------------------------------- family


class StableAudioFamily(GenerationFamily):
    """Stable Audio (StableAudioPipeline): the cache, v-objective and report of this module."""

    cache_builder = staticmethod(build_cache)
    samples_while_training = False

    def load_transformer(self) -> nn.Module:
        from diffusers import StableAudioDiTModel

        return StableAudioDiTModel.from_pretrained(self.location, subfolder="transformer")

    def prepare(self, model: nn.Module, cache: LatentCache) -> None:
        self.scheduler = load_scheduler(self.location)
        self.variant = self.options.variant if self.options.variant != "auto" else "base"
        self.null_emb = cache.shared["null_condition_emb"]

    def _example_inputs(self, model) -> tuple:
        from diffusers.models.embeddings import get_1d_rotary_pos_embed

        item = collate_clips([LatentClips(self._cache, [0], 8, random_crop=False)[0]])
        x = torch.randn_like(item["latents"]).transpose(1, 2)
        hidden = item["encoder_hidden_states"]
        rotary = get_1d_rotary_pos_embed(
            model.config.attention_head_dim // 2, x.shape[2] + 1, use_real=True
        )
        return (x, torch.full((1,), 0.5), hidden, global_states(hidden), rotary)

    def train_shift(self) -> float:
        return 1.0  # Stable Audio's schedulers have no shift

    def loss_at(self, model, batch, fixed_sigma: float | None = None) -> torch.Tensor:
        """The scheduler-parameterised loss (fixed_sigma: a v-diffusion time t in (0, 1))."""
        x0 = batch["latents"]
        noise, t, drop = self._noise(batch, fixed_sigma)  # t: logit-normal, unshifted
        hidden = batch["encoder_hidden_states"].to(x0.dtype)
        global_hidden = global_states(hidden)  # the seconds stay on the unconditional branch
        null = self.null_emb.to(hidden).expand_as(hidden)
        hidden = torch.where(drop.view(-1, 1, 1), null, hidden)
        _, model_in, timestep, target = noisy_latents_and_target(
            self.scheduler, x0, noise, edm_sigmas(t).to(x0.device)
        )
        prediction = dit_output(model, model_in, timestep.to(x0), hidden, global_hidden)
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
    """inference.run_pipeline for StableAudioPipeline, with its own argument names; lyrics and
    shift do not apply. Audio [n, channels, samples] (seed + i for prompt i)."""
    d = sampling_defaults(variant or "base", steps, None, guidance)
    rate = pipe.vae.config.sampling_rate
    longest = pipe.transformer.config.sample_size * pipe.vae.hop_length / rate
    if not 0 < duration <= longest + 1e-9:
        raise ConfigError(
            f"duration={duration}: this Stable Audio checkpoint generates up to {longest:.2f} s "
            "(transformer sample_size); ask for less"
        )
    out = []
    for i, prompt in enumerate(prompts):
        callback = None
        if on_step is not None:

            def callback(step, t, latents, _total=d.steps):
                on_step(step + 1, _total)

        with torch.no_grad():
            audio = pipe(
                prompt=prompt,
                audio_end_in_s=float(duration),
                num_inference_steps=d.steps,
                guidance_scale=d.guidance,
                generator=torch.Generator().manual_seed(int(seed) + i),
                callback=callback,
            ).audios
        out.append(audio[0].float().cpu().numpy())
    return np.stack(out)


KIND_FAMILIES[KIND] = StableAudioFamily
inference.RUNNERS[KIND] = run_pipeline
