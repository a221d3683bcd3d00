"""ACE-Step 1.5 through the stock AceStepPipeline: what its `__call__` does, split into the parts
training needs (encode conditions once, encode audio once, one DiT forward on a noisy latent).

Each function calls the pipeline's own methods (`encode_prompt`, `condition_encoder`,
`prepare_src_latents`, `_build_chunk_mask`, `vae.encode`) so cached conditions are exactly the ones
the pipeline would feed its DiT at generation time.
"""

from __future__ import annotations

import math

import torch

from ...data.captions import Caption

TEXT2MUSIC = "text2music"


def caption_text(caption: Caption) -> str:
    return caption.caption or ""


def encode_condition(
    pipe, caption: Caption, duration: float, latents_per_second: float
) -> dict[str, torch.Tensor]:
    """Condition-encoder output for one caption: {"encoder_hidden_states" [L, D], "encoder_attention_mask" [L]}.

    Text, lyrics (empty = instrumental) and metadata go through the pipeline's own prompt format;
    the timbre input is the checkpoint's silence latent, as in text-to-music generation.
    """
    device = torch.device("cpu")
    text, text_mask, lyric, lyric_mask = pipe.encode_prompt(
        prompt=[caption_text(caption)],
        lyrics=[caption.lyrics or ""],
        device=device,
        vocal_language=caption.language or "en",
        audio_duration=duration,
        instruction=pipe._get_task_instruction(TEXT2MUSIC),
        bpm=int(round(caption.bpm)) if caption.bpm else None,
        keyscale=caption.keyscale,
        timesignature=(caption.timesignature or "").split("/")[0] or None,
    )
    timbre_frames = math.ceil(30 * latents_per_second)
    timbre = pipe.condition_encoder.silence_latent[:, :timbre_frames, :].to(dtype=text.dtype)
    hidden, mask = pipe.condition_encoder(
        text_hidden_states=text,
        text_attention_mask=text_mask,
        lyric_hidden_states=lyric,
        lyric_attention_mask=lyric_mask,
        refer_audio_acoustic_hidden_states_packed=timbre,
        refer_audio_order_mask=torch.zeros(1, dtype=torch.long),
    )
    return {
        "encoder_hidden_states": hidden[0].contiguous(),
        "encoder_attention_mask": mask[0].to(torch.uint8),
    }


def encode_audio(pipe, wave: torch.Tensor) -> torch.Tensor:
    """VAE latents [T, C] of a waveform [channels, samples] at the pipeline's rate (distribution mean).

    The mean, not a sample: a cache must be deterministic (and two caching modes byte-identical).
    """
    x = wave.unsqueeze(0).to(dtype=pipe.vae.dtype)
    return pipe.vae.encode(x).latent_dist.mean[0].transpose(0, 1).contiguous()


def null_condition(pipe_or_encoder, like: torch.Tensor) -> torch.Tensor:
    """The checkpoint's learned null-condition embedding broadcast like `like` [B, L, D]."""
    encoder = getattr(pipe_or_encoder, "condition_encoder", pipe_or_encoder)
    return encoder.null_condition_emb.to(like.dtype).expand_as(like)


def context_latents(silence_latent: torch.Tensor, batch: int, frames: int) -> torch.Tensor:
    """What text-to-music feeds as context: the silence latent tiled to `frames`, then an all-ones
    chunk mask (the pipeline's `prepare_src_latents` + `_build_chunk_mask` for text2music)."""
    reps = (frames + silence_latent.shape[1] - 1) // silence_latent.shape[1]
    src = silence_latent.repeat(1, reps, 1)[:, :frames, :].expand(batch, -1, -1)
    mask = torch.ones_like(src)
    return torch.cat([src, mask], dim=-1)


def velocity(
    transformer, x_t: torch.Tensor, sigma: torch.Tensor, hidden: torch.Tensor, context: torch.Tensor
) -> torch.Tensor:
    """The DiT's velocity for latents [B, T, C] at noise level sigma [B] (ACE-Step's t = sigma)."""
    t = sigma.to(x_t.dtype)
    return transformer(x_t, t, t, hidden, context, return_dict=False)[0]
