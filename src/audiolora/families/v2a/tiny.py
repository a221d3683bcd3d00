"""Random-init instances of the real encoder classes the v2a cache loads, saved like checkpoints.

Tests and `scripts/train_v2a_base.py` build them here and write them with `save_pretrained`, so they
load through `from_pretrained` exactly as a downloaded Oobleck codec or CLIP model does.
"""

from __future__ import annotations

import string
from pathlib import Path

import torch

_SPECIALS = ["<pad>", "<unk>", "<|startoftext|>", "<|endoftext|>"]


def char_tokenizer():
    """A character-level fast tokenizer (a tiny text encoder has no trained vocabulary)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(_SPECIALS)}
    for ch in sorted(set(string.printable) - set("\x0b\x0c")):
        vocab.setdefault(ch, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        unk_token="<unk>",
        bos_token="<|startoftext|>",
        eos_token="<|endoftext|>",
    )


def save_tiny_codec(
    folder: str | Path,
    samplerate: int = 16000,
    latent_dim: int = 8,
    ratios: tuple[int, ...] = (4, 8, 16),
    seed: int = 0,
) -> Path:
    """A random-init diffusers AutoencoderOobleck (mono), hop = prod(ratios)."""
    from diffusers import AutoencoderOobleck

    torch.manual_seed(seed)
    model = AutoencoderOobleck(
        encoder_hidden_size=2 * latent_dim,
        downsampling_ratios=list(ratios),
        channel_multiples=[1, 2, 4][: len(ratios)] + [4] * max(0, len(ratios) - 3),
        decoder_channels=8,
        decoder_input_channels=latent_dim,
        audio_channels=1,
        sampling_rate=samplerate,
    )
    model.save_pretrained(str(folder))
    return Path(folder)


def save_tiny_clip_vision(
    folder: str | Path, image: int = 32, dim: int = 32, seed: int = 0
) -> Path:
    """A random-init CLIPVisionModelWithProjection and its CLIPImageProcessor."""
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(seed)
    config = CLIPVisionConfig(
        hidden_size=dim,
        intermediate_size=2 * dim,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=image,
        patch_size=image // 4,
        projection_dim=dim,
    )
    CLIPVisionModelWithProjection(config).save_pretrained(str(folder))
    CLIPImageProcessor(
        size={"shortest_edge": image}, crop_size={"height": image, "width": image}
    ).save_pretrained(str(folder))
    return Path(folder)


def save_tiny_clip_text(folder: str | Path, dim: int = 32, seed: int = 0) -> Path:
    """A random-init CLIPTextModelWithProjection and a character tokenizer."""
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    torch.manual_seed(seed)
    tok = char_tokenizer()
    config = CLIPTextConfig(
        vocab_size=len(tok),
        hidden_size=dim,
        intermediate_size=2 * dim,
        num_hidden_layers=1,
        num_attention_heads=2,
        max_position_embeddings=64,
        projection_dim=dim,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    CLIPTextModelWithProjection(config).save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    return Path(folder)


def save_tiny_encoders(folder: str | Path, samplerate: int = 16000) -> dict[str, str]:
    """All three under `folder`: {"codec": ..., "clip_model": ..., "text_model": ...}."""
    folder = Path(folder)
    return {
        "codec": str(save_tiny_codec(folder / "codec", samplerate)),
        "clip_model": str(save_tiny_clip_vision(folder / "clip")),
        "text_model": str(save_tiny_clip_text(folder / "text")),
    }
