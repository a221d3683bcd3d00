"""Tiny random-init instances of the real model classes the families adapt."""

from __future__ import annotations

import copy
from fractions import Fraction

import pytest
import torch

from audiolora import (
    AdapterSpec,
    attach_adapter,
    load_adapter,
    merge_adapter,
    parameter_report,
    save_adapter,
    unmerge_adapter,
)


def _htdemucs():
    from audiolora.hub import load_model

    torch.manual_seed(0)
    model = load_model("htdemucs-tiny")
    model.segment = Fraction(4096, model.samplerate)  # eval pads to the segment: keep it short
    mix = torch.randn(1, 2, 4096, generator=torch.Generator().manual_seed(1))
    return model, (mix,)


def _stable_audio_dit():
    from diffusers import StableAudioDiTModel

    torch.manual_seed(0)
    model = StableAudioDiTModel(
        sample_size=16,
        in_channels=4,
        num_layers=2,
        attention_head_dim=8,
        num_attention_heads=2,
        num_key_value_attention_heads=1,
        out_channels=4,
        cross_attention_dim=16,
        time_proj_dim=8,
        global_states_input_dim=16,
        cross_attention_input_dim=16,
    )
    g = torch.Generator().manual_seed(1)
    inputs = (
        torch.randn(1, 4, 16, generator=g),
        torch.tensor([10]),
        torch.randn(1, 5, 16, generator=g),
        torch.randn(1, 1, 16, generator=g),
    )
    return model, inputs


def _ace_step():
    from diffusers import AceStepTransformer1DModel

    torch.manual_seed(0)
    model = AceStepTransformer1DModel(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        in_channels=8,
        audio_acoustic_hidden_dim=4,
        patch_size=2,
        sliding_window=4,
    )
    g = torch.Generator().manual_seed(1)
    inputs = (
        torch.randn(1, 8, 4, generator=g),
        torch.tensor([0.5]),
        torch.tensor([0.5]),
        torch.randn(1, 5, 32, generator=g),
        torch.randn(1, 8, 4, generator=g),
    )
    return model, inputs


def _musicgen():
    from transformers import MusicgenDecoderConfig, MusicgenForCausalLM

    torch.manual_seed(0)
    config = MusicgenDecoderConfig(
        vocab_size=16,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        ffn_dim=32,
        num_codebooks=2,
        max_position_embeddings=32,
    )
    model = MusicgenForCausalLM(config).eval()
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 16, (2, 6), generator=g)  # (batch x codebooks, steps)
    return model, (ids, None, torch.randn(1, 3, 16, generator=g))


# name: (builder, spec kwargs)
MODELS = {
    "htdemucs-all-lora": (_htdemucs, dict(targets=["*"])),
    "htdemucs-all-lokr": (_htdemucs, dict(kind="lokr", targets=["*"])),
    "htdemucs-decoders-lora": (_htdemucs, dict(targets=["*.conv_tr", "crosstransformer.*"])),
    "stable-audio-dit-attention": (_stable_audio_dit, dict(attention="both")),
    "stable-audio-dit-lokr": (
        _stable_audio_dit,
        dict(kind="lokr", targets=["*.attn1.to_*", "*.ff.*"]),
    ),
    "ace-step-all": (_ace_step, dict(targets=["*"])),
    "musicgen-attention": (_musicgen, dict(attention="both")),
}


def _out(model, inputs):
    out = model(*inputs)
    if hasattr(out, "sample"):
        return out.sample
    if hasattr(out, "logits"):
        return out.logits
    return out


SLOW = {"htdemucs-all-lora", "htdemucs-all-lokr"}  # ~20 s each on a shared 2-core CPU


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=[pytest.mark.slow] if n in SLOW else []) for n in MODELS]
)
def test_real_model_round_trip(name, tmp_path):
    builder, kwargs = MODELS[name]
    model, inputs = builder()
    base = copy.deepcopy(model).requires_grad_(False)
    attach_adapter(model, AdapterSpec(rank=4, alpha=8, **kwargs), example_inputs=inputs)
    assert type(model) is type(base)
    report = parameter_report(model)
    assert report.rows and 0 < report.percent < 100
    with torch.no_grad():
        assert torch.equal(_out(model, inputs), _out(base, inputs))  # zero init
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn(p.shape, generator=gen) * 0.05)
        adapted = _out(model, inputs)
        assert (adapted - _out(base, inputs)).abs().max() > 1e-5
        save_adapter(model, tmp_path / "a", {"family": name})
        fresh, _ = builder()
        load_adapter(fresh, tmp_path / "a")
        assert torch.equal(_out(fresh, inputs), adapted)
        merge_adapter(model)
        merged = _out(model, inputs)
        assert (merged - adapted).abs().max() <= 1e-4 * adapted.abs().max()
        unmerge_adapter(model)
        torch.testing.assert_close(_out(model, inputs), adapted, atol=1e-5, rtol=1e-4)


def test_htdemucs_apply_model_and_attributes_survive():
    from demucs.apply import apply_model

    from audiolora.hub import load_model

    torch.manual_seed(0)
    model = load_model("htdemucs-tiny")
    mix = torch.randn(1, 2, 4096, generator=torch.Generator().manual_seed(1))
    attach_adapter(model, AdapterSpec(targets=["*.conv_tr", "crosstransformer.*"]))
    assert model.sources == ["drums", "bass", "other", "vocals"] and model.segment
    model.eval()
    with torch.no_grad():
        out = apply_model(model, mix, progress=False)
    assert out.shape == (1, 4, 2, mix.shape[-1])
