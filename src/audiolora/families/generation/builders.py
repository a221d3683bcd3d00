"""Random-init instances of the real diffusers / transformers classes, at any size.

Tests build tiny ones and save them with `save_pretrained` so that they load through the same path as a
downloaded checkpoint; `scripts/train_gen_mini.py` builds the bundled `gen-mini` base the same way.
Nothing here re-implements a model: every module is the library's own class.
"""

from __future__ import annotations

import string
from typing import Any

import torch

SPECIAL_TOKENS = ["<pad>", "<unk>", "<|endoftext|>"]


def char_tokenizer():
    """A character-level fast tokenizer (transformers' PreTrainedTokenizerFast over `tokenizers`).

    Real checkpoints ship their own tokenizer files; a tiny base has no trained vocabulary, so it uses
    characters, which need no training data and cover any caption.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    chars = sorted(set(string.printable) - set("\x0b\x0c"))
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for ch in chars:
        vocab.setdefault(ch, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        unk_token="<unk>",
        eos_token="<|endoftext|>",
        additional_special_tokens=["<|endoftext|>"],
    )


def ace_step_pipeline(
    *,
    hidden: int = 32,
    layers: int = 2,
    heads: int = 2,
    head_dim: int = 16,
    acoustic_dim: int = 8,
    text_hidden: int = 32,
    text_layers: int = 1,
    vae_hidden: int = 8,
    downsampling: tuple[int, ...] = (4, 8, 8),
    samplerate: int = 16000,
    audio_channels: int = 2,
    is_turbo: bool = True,
    seed: int = 0,
):
    """A random-init AceStepPipeline (DiT, condition encoder, Oobleck VAE, Qwen3 text encoder)."""
    from diffusers import (
        AceStepPipeline,
        AceStepTransformer1DModel,
        AutoencoderOobleck,
        FlowMatchEulerDiscreteScheduler,
    )
    from diffusers.pipelines.ace_step.modeling_ace_step import AceStepConditionEncoder
    from transformers import Qwen3Config, Qwen3Model

    torch.manual_seed(seed)
    tokenizer = char_tokenizer()
    text_encoder = Qwen3Model(
        Qwen3Config(
            vocab_size=len(tokenizer),
            hidden_size=text_hidden,
            intermediate_size=text_hidden * 2,
            num_hidden_layers=text_layers,
            num_attention_heads=2,
            num_key_value_heads=1,
            head_dim=text_hidden // 2,
            max_position_embeddings=4096,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    common: dict[str, Any] = dict(
        num_attention_heads=heads,
        num_key_value_heads=max(1, heads // 2),
        head_dim=head_dim,
        sliding_window=16,
    )
    transformer = AceStepTransformer1DModel(
        hidden_size=hidden,
        intermediate_size=hidden * 3,
        num_hidden_layers=layers,
        in_channels=acoustic_dim * 3,
        audio_acoustic_hidden_dim=acoustic_dim,
        patch_size=2,
        is_turbo=is_turbo,
        model_version="turbo" if is_turbo else "base",
        **common,
    )
    condition_encoder = AceStepConditionEncoder(
        hidden_size=hidden,
        intermediate_size=hidden * 3,
        text_hidden_dim=text_hidden,
        timbre_hidden_dim=acoustic_dim,
        num_lyric_encoder_hidden_layers=1,
        num_timbre_encoder_hidden_layers=1,
        **common,
    )
    vae = AutoencoderOobleck(
        encoder_hidden_size=2 * acoustic_dim,  # the encoder emits mean and scale: latent = half
        downsampling_ratios=list(downsampling),
        channel_multiples=[1, 2, 2][: len(downsampling)] + [2] * max(0, len(downsampling) - 3),
        decoder_channels=vae_hidden,
        decoder_input_channels=acoustic_dim,
        audio_channels=audio_channels,
        sampling_rate=samplerate,
    )
    scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1, shift=1.0)
    return AceStepPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=transformer,
        condition_encoder=condition_encoder,
        scheduler=scheduler,
    )


def stable_audio_pipeline(
    *,
    heads: int = 2,
    head_dim: int = 16,
    layers: int = 2,
    latent_dim: int = 8,
    cross_dim: int = 32,
    text_hidden: int = 32,
    text_layers: int = 1,
    max_tokens: int = 32,
    vae_hidden: int = 8,
    downsampling: tuple[int, ...] = (4, 8, 8),
    samplerate: int = 16000,
    audio_channels: int = 2,
    sample_size: int = 128,  # latent frames the pipeline always generates (2 s at 16 kHz, hop 256)
    max_seconds: int = 512,
    seed: int = 0,
):
    """A random-init StableAudioPipeline (DiT, Oobleck VAE, T5 encoder, projection model) with the
    scheduler Stable Audio Open ships (cosine DPM-Solver, v-prediction, sigma_data 1)."""
    from diffusers import (
        AutoencoderOobleck,
        CosineDPMSolverMultistepScheduler,
        StableAudioDiTModel,
        StableAudioPipeline,
        StableAudioProjectionModel,
    )
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(seed)
    tokenizer = char_tokenizer()
    tokenizer.model_max_length = max_tokens  # the pipeline pads every prompt to this length
    text_encoder = T5EncoderModel(
        T5Config(
            vocab_size=len(tokenizer),
            d_model=text_hidden,
            d_kv=text_hidden // 2,
            d_ff=text_hidden * 2,
            num_layers=text_layers,
            num_heads=2,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    transformer = StableAudioDiTModel(
        sample_size=sample_size,
        in_channels=latent_dim,
        out_channels=latent_dim,
        num_layers=layers,
        attention_head_dim=head_dim,
        num_attention_heads=heads,
        num_key_value_attention_heads=max(1, heads // 2),
        cross_attention_dim=cross_dim,
        time_proj_dim=16,
        global_states_input_dim=2 * cross_dim,
        cross_attention_input_dim=cross_dim,
    )
    projection_model = StableAudioProjectionModel(
        text_encoder_dim=text_hidden, conditioning_dim=cross_dim, min_value=0, max_value=max_seconds
    )
    vae = AutoencoderOobleck(
        encoder_hidden_size=2 * latent_dim,  # the encoder emits mean and scale: latent = half
        downsampling_ratios=list(downsampling),
        channel_multiples=[1, 2, 2][: len(downsampling)] + [2] * max(0, len(downsampling) - 3),
        decoder_channels=vae_hidden,
        decoder_input_channels=latent_dim,
        audio_channels=audio_channels,
        sampling_rate=samplerate,
    )
    scheduler = CosineDPMSolverMultistepScheduler(
        sigma_min=0.3, sigma_max=500, sigma_data=1.0, solver_order=2, prediction_type="v_prediction"
    )
    return StableAudioPipeline(
        vae=vae,
        text_encoder=text_encoder,
        projection_model=projection_model,
        tokenizer=tokenizer,
        transformer=transformer,
        scheduler=scheduler,
    )
