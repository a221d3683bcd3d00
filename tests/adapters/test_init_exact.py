"""An adapter leaves the model's output bit-for-bit unchanged at init, on the real model classes the
families adapt: every adaptable module type of HT-Demucs (Conv1d/2d, ConvTranspose1d/2d, Linear,
Embedding, self- and cross-attention nn.MultiheadAttention) and of Basic Pitch (its Conv2d classes),
LoRA and LoKr, in eval mode (with and without autograd) and in train mode.

Exact by construction, so no tolerance: a zero delta adds exactly 0 to each layer's output or
weight, and the adapted attention runs the base MultiheadAttention's own forward with the adapted
weights (the same fused fast path in eval mode, the same packed in-projection). Both models see the
same grad mode and the same RNG state, so nothing here depends on which kernels a CPU picks.
"""

from __future__ import annotations

import copy
import random
from fractions import Fraction

import pytest
import torch
import torch.nn as nn

from audiolora import AdapterSpec, attach_adapter
from audiolora.adapters.targets import base_of

ADAPTABLE = (
    nn.Conv1d,
    nn.Conv2d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.Linear,
    nn.MultiheadAttention,
    nn.Embedding,  # HT-Demucs's frequency embedding (LoRA only: PEFT's LoKr has no Embedding)
)


def _htdemucs(small: bool = False):
    """The issue's small random HTDemucs (channels 8, depth 4, t_layers 2, 4 sources) or, `small`,
    tests/separation/sep_tiny.py's size (8 kHz, depth 2) with t_layers 2; layer scales at 1 so that
    the transformer's attention matters in the output."""
    from demucs.htdemucs import HTDemucs

    torch.manual_seed(0)
    size = (
        dict(samplerate=8000, nfft=256, depth=2, bottom_channels=0, t_hidden_scale=1.0)
        if small
        else dict(samplerate=44100, nfft=4096, depth=4)
    )
    model = HTDemucs(
        sources=["drums", "bass", "other", "vocals"], channels=8, t_layers=2, t_heads=2,
        segment=1, t_dropout=0.0, **size,
    )  # fmt: skip
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.startswith("crosstransformer.") and name.endswith(".scale"):
                p.fill_(1.0)
    length = 4096 if small else 8192
    model.segment = Fraction(length, model.samplerate)
    mix = torch.randn(1, 2, length, generator=torch.Generator().manual_seed(1))
    return model, (mix,)


def _basic_pitch():
    from audiolora.families.transcription.model import WINDOW_SAMPLES, load_basic_pitch

    audio = torch.randn(1, WINDOW_SAMPLES, generator=torch.Generator().manual_seed(1)) * 0.1
    return load_basic_pitch(), (audio,)


def _output(model, inputs):
    out = model(*inputs)
    return torch.cat([v.flatten() for v in out.values()]) if isinstance(out, dict) else out


def _run(model, inputs, mode: str):
    """The model's output in `mode`, from the same RNG state each time."""
    model.train(mode == "train")
    segment = getattr(model, "segment", None)
    random.seed(5)
    torch.manual_seed(5)
    try:
        if mode == "eval-no-grad":
            with torch.no_grad():
                return _output(model, inputs).detach()
        return _output(model, inputs).detach()
    finally:
        if segment is not None:
            model.segment = segment  # a training forward overwrites it (demucs)


MODELS = {"htdemucs": _htdemucs, "basic-pitch": _basic_pitch}
SPECS = {
    "lora": dict(kind="lora", rank=2, alpha=4),
    # dropout keeps every layer on the low-rank branch (PEFT's own classes where PEFT has them)
    "lora-branch": dict(kind="lora", rank=2, alpha=4, dropout=0.1),
    "lokr": dict(kind="lokr", rank=2, alpha=4),
}
MODES = ("eval-no-grad", "eval-grad", "train")


@pytest.mark.parametrize("spec", list(SPECS))
@pytest.mark.parametrize("name", list(MODELS))
def test_every_module_type_is_exact_at_init(name, spec):
    model, inputs = MODELS[name]()
    base = copy.deepcopy(model).requires_grad_(False)
    attach_adapter(model, AdapterSpec(targets=["*"], **SPECS[spec]), example_inputs=inputs)
    inside_mha = {
        id(c) for m in base.modules() if isinstance(m, nn.MultiheadAttention) for c in m.modules()
    }  # an MHA's out_proj is adapted as the MHA's "out" part
    kinds = {
        type(m)
        for m in base.modules()
        if isinstance(m, ADAPTABLE)
        and (id(m) not in inside_mha or type(m) is nn.MultiheadAttention)
        and not (spec == "lokr" and isinstance(m, nn.Embedding))
    }
    adapted = {type(base_of(m)) for m in model.modules() if hasattr(m, "get_base_layer")}
    assert kinds <= adapted, f"not adapted: {kinds - adapted}"
    if name == "htdemucs":
        assert {nn.Conv1d, nn.ConvTranspose2d, nn.Linear, nn.MultiheadAttention} <= kinds
    for mode in MODES:
        want, got = _run(base, inputs, mode), _run(model, inputs, mode)
        assert torch.equal(got, want), (
            f"{name} {spec} {mode}: differs by {(got - want).abs().max().item():.3g}"
        )


@pytest.mark.parametrize("kind", ["lora", "lokr"])
@pytest.mark.parametrize(
    "targets",
    [["crosstransformer.*self_attn"], ["*cross_attn"]],
)
def test_attention_alone_is_exact_at_init(kind, targets):
    """Attention alone: in eval mode the frozen base's self-attention takes torch's fused fast
    path; the adapted one must take it too (no autograd) or return its numbers (autograd on)."""
    model, inputs = _htdemucs(small=True)
    base = copy.deepcopy(model).requires_grad_(False)
    attach_adapter(model, AdapterSpec(kind=kind, rank=2, targets=targets), example_inputs=inputs)
    adapted = [m for m in model.modules() if hasattr(m, "get_base_layer")]
    assert len(adapted) == 2 and all(isinstance(base_of(m), nn.MultiheadAttention) for m in adapted)
    for mode in MODES:
        want, got = _run(base, inputs, mode), _run(model, inputs, mode)
        assert torch.equal(got, want), f"{kind} {targets} {mode}"


def test_eval_mode_gradient_reaches_the_attention_adapter():
    """Eval mode with autograd on (the live-check, gradient rank estimation): the output has the
    fused path's numbers and still carries a gradient to every attention factor."""
    model, inputs = _htdemucs(small=True)
    attach_adapter(model, AdapterSpec(rank=2, targets=["crosstransformer.*self_attn"]))
    model.eval()
    with torch.no_grad():  # give B a value, so that A gets a gradient too
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(std=0.1, generator=torch.Generator().manual_seed(2))
    model(*inputs).square().sum().backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    assert grads and all(g is not None and g.abs().sum() > 0 for g in grads.values())


@pytest.mark.parametrize("kind", ["lora", "lokr"])
def test_feed_forward_adapter_of_a_torch_encoder_layer_acts_in_eval_without_grad(kind):
    """nn.TransformerEncoderLayer's fused eval path reads linear1/linear2's weights itself: an
    adapter there must still act (it equals the merged weights) and be exact at init."""
    from audiolora import merge_adapter

    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True).eval()
    x = torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = layer(x)
    model = copy.deepcopy(layer)
    attach_adapter(model, AdapterSpec(kind=kind, rank=2, targets=["linear1", "linear2"]))
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), want)  # exact at init, in the path torch picks
        for n, p in model.named_parameters():
            if p.requires_grad:
                p.normal_(std=0.3, generator=torch.Generator().manual_seed(len(n)))
        adapted = model(x)
        merge_adapter(model)
        merged = model(x)
    assert (adapted - want).abs().max() > 1e-2  # the adapter acts
    assert torch.allclose(adapted, merged, atol=1e-5)
