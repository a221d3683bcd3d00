"""Random-init instances of the real diffusers / transformers classes, at any size.

Tests build tiny ones and save them with `save_pretrained` so that they load through the same path as a
downloaded checkpoint; `scripts/train_gen_mini.py` builds the bundled `gen-mini` base the same way.
Nothing here re-implements a model: every module is the library's own class.
"""

from __future__ import annotations

import math
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
    codec: str = "oobleck",
):
    """A random-init AceStepPipeline (DiT, condition encoder, Qwen3 text encoder and a codec).

    `codec="oobleck"`: a random-init AutoencoderOobleck; `codec="mel"`: the fixed `MelCodec` with
    `acoustic_dim` mel bands and hop `prod(downsampling)` (gen-mini's codec).
    """
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
    if codec == "mel":
        from .codecs import MelCodec

        vae = MelCodec(
            sampling_rate=samplerate,
            audio_channels=audio_channels,
            downsampling_ratios=[math.prod(downsampling)],
            n_fft=4 * math.prod(downsampling),
            n_mels=acoustic_dim,
        )
    else:
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


def t5_char_tokenizer():
    """A character-level T5Tokenizer (a Unigram over single characters and the word marker "▁"):
    T5's own tokenizer class and pre-tokenizer, with a vocabulary that needs no training data."""
    from transformers import T5Tokenizer

    chars = sorted(set(string.printable) - set(" \t\n\r\x0b\x0c"))
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -1.0)]
    vocab += [(ch, -2.0) for ch in chars]
    return T5Tokenizer(vocab=vocab, extra_ids=0)


def musicgen_model(
    *,
    hidden: int = 32,
    layers: int = 2,
    heads: int = 2,
    codebooks: int = 4,
    codebook_size: int = 64,
    text_hidden: int = 16,
    samplerate: int = 16000,
    ratios: tuple[int, ...] = (8, 5, 4, 2),
    audio_channels: int = 1,
    seed: int = 0,
):
    """(MusicgenForConditionalGeneration, MusicgenProcessor): random-init T5 encoder, EnCodec and
    MusicGen decoder, laid out like facebook/musicgen-* (special token = codebook_size, CFG 3)."""
    from transformers import (
        EncodecConfig,
        EncodecFeatureExtractor,
        MusicgenConfig,
        MusicgenDecoderConfig,
        MusicgenForConditionalGeneration,
        MusicgenProcessor,
        T5Config,
    )

    torch.manual_seed(seed)
    tokenizer = t5_char_tokenizer()
    hop = 1
    for r in ratios:
        hop *= r
    bits = (codebook_size - 1).bit_length()  # EnCodec picks its codebooks from the bandwidth
    channel_books = codebooks // audio_channels
    codec = EncodecConfig(
        sampling_rate=samplerate,
        audio_channels=1,
        hidden_size=16,
        num_filters=4,
        num_lstm_layers=1,
        upsampling_ratios=list(ratios),
        codebook_size=codebook_size,
        target_bandwidths=[channel_books * bits * samplerate / hop / 1000],
    )
    text = T5Config(
        vocab_size=len(tokenizer),
        d_model=text_hidden,
        d_kv=8,
        d_ff=2 * text_hidden,
        num_layers=1,
        num_heads=2,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    special = codebook_size
    decoder = MusicgenDecoderConfig(
        vocab_size=codebook_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        ffn_dim=2 * hidden,
        num_codebooks=codebooks,
        audio_channels=audio_channels,
        max_position_embeddings=2048,
        pad_token_id=special,
        bos_token_id=special,
        decoder_start_token_id=special,
    )
    model = MusicgenForConditionalGeneration(
        MusicgenConfig(text_encoder=text, audio_encoder=codec, decoder=decoder)
    )
    _spread_codebooks(model.audio_encoder, samplerate)
    model.generation_config.update(
        do_sample=True,
        guidance_scale=3.0,
        max_length=256,
        pad_token_id=special,
        bos_token_id=special,
        decoder_start_token_id=special,
    )
    features = EncodecFeatureExtractor(feature_size=audio_channels, sampling_rate=samplerate)
    return model, MusicgenProcessor(feature_extractor=features, tokenizer=tokenizer)


def _spread_codebooks(codec, samplerate: int) -> None:
    """EnCodec's codebooks start at zero (a trained one is k-means initialised, then learned), which
    would map every frame to code 0: initialise them the k-means way, from encoder frames of a chirp."""
    seconds = 4
    t = torch.arange(seconds * samplerate) / samplerate
    freq = 60 * (samplerate / 2 / 60) ** (t / seconds)  # exponential sweep to Nyquist
    chirp = 0.3 * torch.sin(2 * torch.pi * torch.cumsum(freq, 0) / samplerate)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        frames = codec.encoder(chirp[None, None])[0].T  # [frames, D]
        for layer in codec.quantizer.layers:
            book = layer.codebook
            pick = torch.randint(0, frames.shape[0], (book.embed.shape[0],), generator=gen)
            book.embed.copy_(frames[pick] + 1e-3 * torch.randn(book.embed.shape, generator=gen))
            book.embed_avg.copy_(book.embed)
            frames = frames - book.decode(book.encode(frames))


def gemma_char_tokenizer(max_tokens: int = 32):
    """A character-level GemmaTokenizer (the class StableAudio3Pipeline declares): single characters
    and the word marker "▁", no merges, BOS first and right padding like T5Gemma's."""
    from transformers import GemmaTokenizer

    chars = sorted(set(string.printable) - set(" \t\n\r\x0b\x0c"))
    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "\u2581"]
    vocab = {tok: i for i, tok in enumerate(specials + chars)}
    tok = GemmaTokenizer(vocab=vocab, merges=[], add_bos_token=True, padding_side="right")
    tok.model_max_length = max_tokens  # the pipeline pads every prompt to min(this, 256)
    return tok


def stable_audio3_pipeline(
    *,
    embed_dim: int = 32,
    heads: int = 2,
    layers: int = 2,
    latent_dim: int = 8,
    cond_dim: int = 32,
    text_layers: int = 1,
    max_tokens: int = 32,
    memory_tokens: int = 4,
    patch_size: int = 32,
    stride: int = 8,
    samplerate: int = 16000,
    audio_channels: int = 2,
    num_train_timesteps: int = 1,
    distilled: bool = True,
    seed: int = 0,
):
    """A random-init StableAudio3Pipeline (StableAudio3DiTModel, AutoencoderSAME, T5Gemma encoder,
    StableAudio3DurationEmbedder, FlowMatchEulerDiscreteScheduler). `distilled`: the ping-pong
    (stochastic) sampler of the distilled checkpoint, else the base checkpoint's Euler sampler."""
    from diffusers import (
        AutoencoderSAME,
        FlowMatchEulerDiscreteScheduler,
        StableAudio3DiTModel,
        StableAudio3Pipeline,
    )
    from diffusers.pipelines.stable_audio_3.modeling_stable_audio_3 import (
        StableAudio3DurationEmbedder,
    )
    from transformers import T5GemmaConfig, T5GemmaEncoderModel, T5GemmaModuleConfig

    torch.manual_seed(seed)
    tokenizer = gemma_char_tokenizer(max_tokens)
    module = T5GemmaModuleConfig(
        vocab_size=len(tokenizer),
        hidden_size=cond_dim,
        intermediate_size=2 * cond_dim,
        num_hidden_layers=text_layers,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=cond_dim // 2,
        query_pre_attn_scalar=cond_dim // 2,
        sliding_window=max_tokens,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
    ).to_dict()
    text_encoder = T5GemmaEncoderModel(
        T5GemmaConfig(
            encoder=module, decoder=module, vocab_size=len(tokenizer), is_encoder_decoder=False
        )
    )
    transformer = StableAudio3DiTModel(
        io_channels=latent_dim,
        embed_dim=embed_dim,
        depth=layers,
        num_heads=heads,
        cond_token_dim=cond_dim,
        global_cond_dim=cond_dim,  # the duration token also joins the cross-attention context
        local_add_cond_dim=latent_dim + 1,
        timestep_features_dim=16,
        num_memory_tokens=memory_tokens,
    )
    duration_embedder = StableAudio3DurationEmbedder(output_dim=cond_dim, fourier_dim=16)
    vae = AutoencoderSAME(
        audio_channels=audio_channels,
        patch_size=patch_size,
        encoder_channels=8,
        encoder_c_mults=[2],
        encoder_strides=[stride],
        encoder_transformer_depths=[1],
        latent_dim=latent_dim,
        dim_heads=8,
        sampling_rate=samplerate,
    )
    # SAME starts its output tokens near zero and its residual projections at zero, so with
    # differential attention an untrained decoder's output tokens never see the latents (every
    # latent decodes to the same sound): give them a trained-like scale
    for module in vae.modules():
        if isinstance(module, torch.nn.Linear) and not module.weight.any():
            module.reset_parameters()
    with torch.no_grad():
        for name, param in vae.named_parameters():
            if name.endswith("new_tokens"):
                param.normal_(0.0, 1.0)
    scheduler = FlowMatchEulerDiscreteScheduler(
        num_train_timesteps=num_train_timesteps, shift=1.0, stochastic_sampling=distilled
    )
    return StableAudio3Pipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        duration_embedder=duration_embedder,
        transformer=transformer,
        scheduler=scheduler,
    )
