"""LoKr on nn.MultiheadAttention inside real containers: TransformerEncoderLayer, a cross-attention
MHA with its own key/value widths and low-rank factors, and HT-Demucs's cross-transformer."""

from __future__ import annotations

import copy
from fractions import Fraction

import pytest
import torch
import torch.nn as nn

from audiolora import (
    AdapterSpec,
    attach_adapter,
    load_adapter,
    merge_adapter,
    save_adapter,
    unmerge_adapter,
)
from audiolora.adapters.io import adapter_state_dict
from audiolora.adapters.layers import MultiheadAttentionLora
from audiolora.adapters.lokr import MultiheadAttentionLoKr


class Cross(nn.Module):
    """Cross-attention with kdim/vdim != embed_dim (separate q/k/v projection weights)."""

    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(32, 4, kdim=24, vdim=40, batch_first=True)

    def forward(self, x, memory_k, memory_v):
        return self.attn(x, memory_k, memory_v, need_weights=False)[0]


def _encoder_layer():
    torch.manual_seed(0)
    model = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.0, batch_first=True)
    x = torch.randn(2, 7, 16, generator=torch.Generator().manual_seed(1))
    # train mode (dropout 0): in eval mode the layer's own fused path (it reads the base weights)
    # stays off while an adapter acts, and running the parts one by one equals it in practice but
    # not by construction; test_mha_bypasses_the_fused_fast_path_until_merged covers eval mode,
    # test_init_exact the attention's own fast path.
    return model.train(), (x,)


def _cross():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    inputs = (torch.randn(2, 5, 32, generator=g), torch.randn(2, 6, 24, generator=g))
    inputs += (torch.randn(2, 6, 40, generator=g),)
    return Cross(), inputs


def _htdemucs():
    from demucs.htdemucs import HTDemucs

    torch.manual_seed(0)
    # t_layers=2: layer 1 of each branch is cross-attention (time <-> frequency)
    model = HTDemucs(
        sources=["drums", "bass"], channels=8, depth=2, nfft=512, t_layers=2, t_heads=2,
        t_hidden_scale=2.0, bottom_channels=0, samplerate=44100, segment=2,
    )  # fmt: skip
    model.segment = Fraction(4096, model.samplerate)
    with torch.no_grad():  # layer scales start near 0; trained ones let the transformer matter
        for name, p in model.named_parameters():
            if name.startswith("crosstransformer.") and name.endswith(".scale"):
                p.fill_(1.0)
    # train mode; eval mode (torch's fused attention fast path) is in test_init_exact
    return model, (torch.randn(1, 2, 4096, generator=torch.Generator().manual_seed(1)),)


# name: (builder, spec kwargs)
SETUPS = {
    "encoder-layer": (_encoder_layer, dict(targets=["self_attn"])),
    "cross-kdim-vdim": (
        _cross,
        dict(targets=["attn"], rank=1, lokr_factor=4, lokr_decompose_both=True),
    ),
    "htdemucs-crosstransformer": (_htdemucs, dict(targets=["crosstransformer.*"])),
}


def _perturb(model):
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn(p.shape, generator=gen) * 0.3)


# LoRA shares the MHA forward/merge (MhaAdapterMixin); HT-Demucs LoRA runs in test_real_models
ROUND_TRIPS = [(n, "lokr") for n in SETUPS] + [
    ("encoder-layer", "lora"),
    ("cross-kdim-vdim", "lora"),
]


@pytest.mark.parametrize("name,kind", ROUND_TRIPS)
def test_mha_round_trip(name, kind, tmp_path):
    builder, kwargs = SETUPS[name]
    model, inputs = builder()
    base = copy.deepcopy(model).requires_grad_(False)
    if kind == "lora":
        kwargs = {k: v for k, v in kwargs.items() if not k.startswith("lokr_")}
    spec = AdapterSpec(kind=kind, **{"rank": 4, "alpha": 8, **kwargs})
    attach_adapter(model, spec, example_inputs=inputs)
    layer = MultiheadAttentionLoKr if kind == "lokr" else MultiheadAttentionLora
    assert any(isinstance(m, layer) for m in model.modules())
    with torch.no_grad():
        assert (model(*inputs) - base(*inputs)).abs().max().item() == 0.0
        _perturb(model)
        adapted = model(*inputs)
        assert (adapted - base(*inputs)).abs().max() > 1e-4
        save_adapter(model, tmp_path / "a")
        fresh, _ = builder()
        load_adapter(fresh, tmp_path / "a")
        assert torch.equal(fresh(*inputs), adapted)
        weights = {k: v.clone() for k, v in base.state_dict().items()}
        merge_adapter(model)
        merged = model(*inputs)
        assert (merged - adapted).abs().max() <= 1e-5 * adapted.abs().max()
        unmerge_adapter(model)
        restored = {
            k.replace("base_layer.", ""): v
            for k, v in model.state_dict().items()
            if "lokr_" not in k
        }
        for k, v in weights.items():
            torch.testing.assert_close(restored[k], v, atol=1e-6, rtol=0)


def test_lokr_mha_low_rank_factors_are_per_part():
    model, inputs = _cross()
    spec = AdapterSpec(
        kind="lokr", rank=1, targets=["attn"], lokr_factor=4, lokr_decompose_both=True
    )
    attach_adapter(model, spec)
    shapes = {k: tuple(v.shape) for k, v in adapter_state_dict(model).items()}
    # PEFT's rules per part: q 32 x 32 = (4 x 4) kron (8 x 8); k's 24 inputs = 4 x 6, v's 40 = 4 x 10;
    # rank 1 is below half of both factors' sides, so both are rank-1 pairs
    assert shapes["attn.lokr_w1_a.q"] == (4, 1) and shapes["attn.lokr_w1_b.q"] == (1, 4)
    assert shapes["attn.lokr_w2_a.q"] == (8, 1) and shapes["attn.lokr_w2_b.q"] == (1, 8)
    assert shapes["attn.lokr_w2_b.k"] == (1, 6) and shapes["attn.lokr_w2_b.v"] == (1, 10)
    assert len(shapes) == 16


@pytest.mark.parametrize("kind", ["lokr", "lora"])
def test_mha_bypasses_the_fused_fast_path_until_merged(kind):
    """In eval + no_grad, TransformerEncoderLayer's fast path reads in_proj_weight directly; an
    acting adapter must turn it off, a merged one may use it (it then calls merge_masks)."""
    model, (x,) = _encoder_layer()
    model.eval()
    base = copy.deepcopy(model)
    attach_adapter(model, AdapterSpec(kind=kind, rank=4, targets=["self_attn.q_proj"]))
    _perturb(model)
    with torch.inference_mode():
        adapted = model(x)
        assert (adapted - base(x)).abs().max() > 1e-4
        merge_adapter(model)
        torch.testing.assert_close(model(x), adapted, atol=1e-5, rtol=1e-5)


def test_two_lokr_adapters_on_one_mha_switch_and_delete():
    from audiolora.adapters.merge import delete_adapter, set_active_adapter

    model, (x,) = _encoder_layer()
    base = copy.deepcopy(model).requires_grad_(False)  # frozen, as the adapted model's base
    attach_adapter(model, AdapterSpec(kind="lokr", rank=4, targets=["self_attn.q_proj"]))
    spec_b = AdapterSpec(kind="lokr", rank=2, targets=["self_attn"])
    attach_adapter(model, spec_b, adapter_name="b")
    layer = model.self_attn
    assert layer.parts("default") == ["q"] and layer.parts("b") == ["q", "k", "v", "out"]
    _perturb(model)  # only "b" is trainable now
    with torch.no_grad():
        out_b = model(x)
        set_active_adapter(model, "default")
        assert torch.equal(model(x), base(x))  # "default" is still at its zero init
        set_active_adapter(model, "b")
        assert torch.equal(model(x), out_b)
        delete_adapter(model, "b")
        assert torch.equal(model(x), base(x)) and not layer.parts("b")
