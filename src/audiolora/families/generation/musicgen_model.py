"""MusicGen through transformers' MusicgenForConditionalGeneration: what its `forward` and `generate`
do, split into the parts training needs, and `generate_musicgen` for the `generate` command.

- Conditions: the T5 encoder's hidden states, projected (`enc_to_dec_proj`) and masked exactly as
  `forward` hands them to the decoder's cross-attention. The unconditional input is the model's own
  `get_unconditional_inputs` (zero states, zero mask), which is also what `generate` appends for CFG.
- Audio: EnCodec codes [K, T] through the model's own `_prepare_audio_encoder_kwargs_for_generation`
  (stereo checkpoints interleave left/right codebooks there).
- Objective: cross-entropy on the codes laid out by the decoder's own `build_delay_pattern_mask`
  (called as `generate` calls it, with the decoder start token as filler), teacher-forced.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import torch

from ...errors import AudioloraError
from .bases import resolve_location
from .inference import GENERATORS


def load_musicgen(name: str, *, with_processor: bool = True):
    """(MusicgenForConditionalGeneration, processor or None) from a hub id or save_pretrained folder."""
    from transformers import AutoProcessor, MusicgenForConditionalGeneration

    location = resolve_location(name)
    try:
        model = MusicgenForConditionalGeneration.from_pretrained(location)
        processor = AutoProcessor.from_pretrained(location) if with_processor else None
    except (OSError, ValueError) as exc:
        raise AudioloraError(
            f"{location}: cannot load the MusicGen model ({str(exc).splitlines()[0]})"
        ) from None
    return model.eval(), processor


def start_token(model) -> int:
    """The decoder start token generate() seeds and pads the delay pattern with."""
    config = model.generation_config
    start = config.decoder_start_token_id
    return int(start if start is not None else config.bos_token_id)


def frame_rate(model) -> float:
    return float(model.config.audio_encoder.frame_rate)


def decoder_condition(model, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Text-encoder states [B, L, D] as `forward` gives them to the decoder: projected, masked."""
    dec = model.decoder.config
    if model.text_encoder.config.hidden_size != dec.hidden_size and (
        dec.cross_attention_hidden_size is None
    ):
        hidden = model.enc_to_dec_proj(hidden)
    return hidden * mask[..., None].to(hidden.dtype)


def encode_text(model, processor, text: str) -> dict[str, torch.Tensor]:
    """{"encoder_hidden_states" [L, D], "encoder_attention_mask" [L]} of one caption."""
    inputs = processor(text=[text], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model.text_encoder(
            input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]
        ).last_hidden_state
        hidden = decoder_condition(model, hidden, inputs["attention_mask"])
    return {
        "encoder_hidden_states": hidden[0].contiguous(),
        "encoder_attention_mask": inputs["attention_mask"][0].to(torch.uint8),
    }


def unconditional(model) -> dict[str, torch.Tensor]:
    """The model's own unconditional input, as the decoder sees it ([1, D] zeros, mask [0])."""
    null = model.get_unconditional_inputs(num_samples=1)
    with torch.no_grad():
        hidden = decoder_condition(model, null.encoder_outputs[0], null.attention_mask)
    return {
        "null_hidden_states": hidden[0].contiguous(),
        "null_attention_mask": null.attention_mask[0].to(torch.uint8),
    }


def encode_audio(model, processor, wave: np.ndarray) -> torch.Tensor:
    """EnCodec codes [K, T] (int64) of a waveform [channels, samples] at the codec's rate."""
    sr = int(model.config.audio_encoder.sampling_rate)
    channels = int(model.decoder.config.audio_channels)
    audio = wave if channels == 2 else wave[0]  # the feature extractor takes [2, T] for stereo
    inputs = processor(audio=audio, sampling_rate=sr, return_tensors="pt")
    values = inputs["input_values"]
    if values.dim() == 2:
        values = values[None]
    with torch.no_grad():
        kwargs = model._prepare_audio_encoder_kwargs_for_generation(
            values, {"padding_mask": inputs.get("padding_mask")}
        )
    return kwargs["decoder_input_ids"].reshape(model.decoder.num_codebooks, -1).long()


def delay_pattern(decoder, codes: torch.Tensor, start: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(sequence, valid) [B*K, T+D] of codes [B, K, T] laid out by the decoder's own delay pattern
    (D = codebooks per channel); `valid` marks the positions generate() would sample."""
    batch, books, frames = codes.shape
    prompt = torch.cat([codes.new_full((batch, books, 1), start), codes], dim=-1)
    prompt = prompt.reshape(batch * books, frames + 1)
    delay = books // 2 if decoder.config.audio_channels == 2 else books
    if frames < delay - 1:
        raise AudioloraError(f"a clip of {frames} code frames is shorter than the {delay} delays")
    length = frames + delay
    _, sequence = decoder.build_delay_pattern_mask(prompt, start, max_length=length)
    _, empty = decoder.build_delay_pattern_mask(prompt[:, :1], start, max_length=length)
    return sequence, empty == -1


def musicgen_loss(decoder, codes, frame_mask, hidden, mask, start: int) -> torch.Tensor:
    """The decoder's own cross-entropy (mean over codebooks) on delayed codes [B, K, T]; frames
    where `frame_mask` [B, T] is 0 (batch padding) are ignored."""
    batch, books, _ = codes.shape
    codes = codes.masked_fill(frame_mask[:, None, :] == 0, -100)
    sequence, valid = delay_pattern(decoder, codes, start)
    labels = sequence.masked_fill(~valid, -100)[:, 1:]
    inputs = sequence.masked_fill(sequence < 0, start)[:, :-1]
    out = decoder(
        input_ids=inputs,
        encoder_hidden_states=hidden,
        encoder_attention_mask=mask.long(),
        labels=labels.reshape(batch, books, -1).transpose(1, 2),
    )
    return out.loss


def sample(
    model,
    processor,
    prompts: Sequence[str],
    *,
    duration: float,
    seed: int = 0,
    guidance: float | None = None,
    on_step: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Audio [n, channels, samples] for `prompts` through the model's own generate (seed + i for
    prompt i; sampling, CFG at `guidance` or the checkpoint's), cut to `duration`."""
    from transformers.generation.streamers import BaseStreamer

    books = model.decoder.num_codebooks
    delay = books // 2 if model.decoder.config.audio_channels == 2 else books
    frames = max(1, math.ceil(duration * frame_rate(model)))
    total = frames + delay - 1  # new tokens: the delay pattern needs delay - 1 more than frames
    scale = guidance if guidance is not None else model.generation_config.guidance_scale
    samples = int(round(duration * model.config.audio_encoder.sampling_rate))

    class Progress(BaseStreamer):
        done = -1  # the first put() is the start token

        def put(self, value):
            self.done += 1
            if on_step is not None and self.done > 0:
                on_step(self.done, total)

        def end(self):
            pass

    out = []
    for i, prompt in enumerate(prompts):
        inputs = processor(text=[prompt], padding=True, return_tensors="pt").to(model.device)
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(int(seed) + i)
            audio = model.generate(
                **inputs,
                do_sample=True,
                guidance_scale=scale,
                max_new_tokens=total,
                streamer=Progress(),
            )
        out.append(audio[0, :, :samples].float().cpu().numpy())
    return np.stack(out)


def attach_decoder_adapters(model, adapters: Sequence[tuple[str, float]]) -> None:
    """Load audiolora adapter folders onto the MusicGen decoder, each at its scale (weights add)."""
    from ...adapters import load_adapter, read_adapter_metadata, set_adapter_weights

    weights = {}
    for i, (folder, scale) in enumerate(adapters):
        meta = read_adapter_metadata(folder)
        if meta.get("family") not in (None, "generation"):
            raise AudioloraError(f"{folder}: a {meta['family']} adapter, not a generation adapter")
        load_adapter(model.decoder, folder, adapter_name=f"adapter{i}")
        weights[f"adapter{i}"] = float(scale)
    if weights:
        set_adapter_weights(model.decoder, weights)
    model.eval()


def generate_musicgen(
    model: str,
    prompt: str,
    *,
    lyrics: str = "",
    duration: float = 10.0,
    seed: int = 0,
    steps: int | None = None,
    guidance: float | None = None,
    shift: float | None = None,
    adapters: Sequence[tuple[str, float]] = (),
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, int]:
    """inference.generate for MusicGen: one clip [channels, samples] and its sample rate. MusicGen
    has no lyrics, sampling steps or shift (it samples one token per code frame): they are ignored."""
    if lyrics.strip():
        warnings.warn("MusicGen takes no lyrics: --lyrics is ignored", stacklevel=2)
    full, processor = load_musicgen(model)
    attach_decoder_adapters(full, adapters)
    audio = sample(
        full, processor, [prompt], duration=duration, seed=seed, guidance=guidance, on_step=progress
    )[0]
    return audio.astype(np.float32), int(full.config.audio_encoder.sampling_rate)


GENERATORS["musicgen"] = generate_musicgen
