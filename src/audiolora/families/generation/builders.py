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
