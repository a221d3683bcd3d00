"""Layer type x method x property, in the spirit of PEFT's test_custom_models.

Each case wraps one real torch layer in a minimal container so the adapter's effect is the model's.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn as nn
from one_layer import One

from audiolora import (
    AdapterSpec,
    attach_adapter,
    load_adapter,
    merge_adapter,
    save_adapter,
    unmerge_adapter,
)
from audiolora.adapters.io import adapter_state_dict

# name: (layer factory, input shape, target glob)
CASES = {
    "linear": (lambda: nn.Linear(8, 6), (2, 5, 8), "layer"),
    "conv1d_strided": (lambda: nn.Conv1d(4, 6, 3, stride=2, padding=1), (2, 4, 17), "layer"),
    "conv1d_grouped": (lambda: nn.Conv1d(4, 6, 3, groups=2, padding=1), (2, 4, 16), "layer"),
    "conv1d_dilated": (lambda: nn.Conv1d(4, 6, 3, dilation=2, padding=2), (2, 4, 16), "layer"),
    "conv1d_padded": (
        lambda: nn.Conv1d(4, 6, 5, padding=2, padding_mode="reflect"),
        (2, 4, 16),
        "layer",
    ),
    "conv2d": (lambda: nn.Conv2d(4, 6, 3, stride=(2, 1), padding=1), (2, 4, 8, 6), "layer"),
    "convtranspose1d": (
        lambda: nn.ConvTranspose1d(4, 6, 8, stride=4, padding=2),
        (2, 4, 9),
        "layer",
    ),
    "convtranspose1d_grouped": (
        lambda: nn.ConvTranspose1d(4, 6, 4, stride=2, groups=2),
        (2, 4, 9),
        "layer",
    ),
    "convtranspose2d": (
        lambda: nn.ConvTranspose2d(4, 6, (8, 1), stride=(4, 1)),
        (2, 4, 5, 3),
        "layer",
    ),
    "mha_q": (lambda: nn.MultiheadAttention(8, 2, batch_first=True), (2, 5, 8), "layer.q_proj"),
    "mha_k": (lambda: nn.MultiheadAttention(8, 2, batch_first=True), (2, 5, 8), "layer.k_proj"),
    "mha_v": (lambda: nn.MultiheadAttention(8, 2, batch_first=True), (2, 5, 8), "layer.v_proj"),
    "mha_out": (lambda: nn.MultiheadAttention(8, 2, batch_first=True), (2, 5, 8), "layer.out_proj"),
    "mha_all": (lambda: nn.MultiheadAttention(8, 2, batch_first=True), (2, 5, 8), "layer"),
}
METHODS = ["lora", "lokr"]
# Cases whose adapter has PEFT's own tensor layout, per method (plain-PEFT loadable).
PEFT_NATIVE = {
    "lora": {"linear", "conv1d_strided", "conv2d"},
    "lokr": {"linear", "conv1d_strided", "conv1d_grouped", "conv1d_dilated", "conv2d"},
}


def _table():
    for case in CASES:
        for method in METHODS:
            yield pytest.param(case, method, id=f"{case}-{method}")


TABLE = list(_table())


def build(case: str, seed: int = 0):
    factory, shape, _ = CASES[case]
    torch.manual_seed(seed)
    model = One(factory())
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(123))
    return model, x


def spec_for(case: str, method: str) -> AdapterSpec:
    return AdapterSpec(kind=method, rank=2, alpha=4, targets=[CASES[case][2]])


def adapted(case: str, method: str, seed: int = 0):
    model, x = build(case, seed)
    base = copy.deepcopy(model).requires_grad_(False)
    attach_adapter(model, spec_for(case, method), example_inputs=(x,))
    return model, base, x


def perturb(model: nn.Module, scale: float = 0.3) -> None:
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn(p.shape, generator=gen) * scale)


@pytest.mark.parametrize("case,method", TABLE)
def test_zero_init_is_exactly_the_base(case, method):
    model, base, x = adapted(case, method)
    with (
        torch.no_grad()
    ):  # with grad on, torch may pick other kernels for frozen vs trainable weights
        assert (model(x) - base(x)).abs().max().item() == 0.0


@pytest.mark.parametrize("case,method", TABLE)
def test_adapter_acts_after_a_training_step(case, method):
    model, base, x = adapted(case, method)
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert (
        trainable
        and sum(p.numel() for p in trainable) < sum(p.numel() for p in base.parameters()) * 4
    )
    before = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    opt = torch.optim.SGD(trainable, lr=0.5)
    loss = (model(x) - torch.ones_like(base(x))).pow(2).mean()
    loss.backward()
    opt.step()
    assert (model(x) - base(x)).abs().max().item() > 1e-4
    for n, p in model.named_parameters():  # frozen base untouched
        if n in before:
            assert torch.equal(p, before[n]), n


@pytest.mark.parametrize("case,method", TABLE)
def test_merge_matches_and_unmerge_restores(case, method):
    model, base, x = adapted(case, method)
    perturb(model)
    with torch.no_grad():
        out = model(x)
        base_weights = {k: v.clone() for k, v in base.state_dict().items()}
        merge_adapter(model)
        merged = model(x)
        assert (merged - out).abs().max() <= 1e-5 * out.abs().max()
        assert (merged - base(x)).abs().max() > 1e-4  # the merge changed the base weights
        unmerge_adapter(model)
        restored = model.layer.get_base_layer().state_dict()
        for k, v in base_weights.items():
            torch.testing.assert_close(restored[k.removeprefix("layer.")], v, atol=1e-6, rtol=0)
        torch.testing.assert_close(model(x), out, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("case,method", TABLE)
def test_save_load_is_exact(case, method, tmp_path):
    model, _, x = adapted(case, method)
    perturb(model)
    save_adapter(model, tmp_path / "adapter", {"family": "test"})
    fresh, _ = build(case)
    load_adapter(fresh, tmp_path / "adapter")
    with torch.no_grad():
        assert torch.equal(fresh(x), model(x))


@pytest.mark.parametrize(
    "case,method", [p for p in TABLE if p.values[0] in PEFT_NATIVE[p.values[1]]]
)
def test_peft_interop_plain_from_pretrained(case, method, tmp_path):
    from peft import PeftModel

    model, _, x = adapted(case, method)
    perturb(model)
    save_adapter(model, tmp_path / "adapter")
    fresh, _ = build(case)
    peft_model = PeftModel.from_pretrained(fresh, str(tmp_path / "adapter"))
    with torch.no_grad():
        # small layers run LoRA through the adapted weight (same function, other rounding)
        torch.testing.assert_close(peft_model(x), model(x), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("method", METHODS)
def test_peft_interop_is_bitwise_on_peft_classes(method, tmp_path):
    from peft import PeftModel

    torch.manual_seed(0)
    model = One(nn.Linear(64, 48))
    x = torch.randn(3, 64)
    attach_adapter(model, AdapterSpec(kind=method, rank=2, targets=["layer"]))
    perturb(model)
    save_adapter(model, tmp_path / "adapter")
    torch.manual_seed(0)
    fresh = One(nn.Linear(64, 48))
    with torch.no_grad():
        peft_out = PeftModel.from_pretrained(fresh, str(tmp_path / "adapter"))(x)
        assert torch.equal(peft_out, model(x))


@pytest.mark.parametrize("case", ["mha_q", "mha_k", "mha_v", "mha_out", "mha_all"])
def test_lokr_mha_stores_only_its_parts(case):
    model, _, _ = adapted(case, "lokr")
    parts = ["q", "k", "v", "out"] if case == "mha_all" else [case.removeprefix("mha_")]
    keys = set(adapter_state_dict(model))
    assert {k.rsplit(".", 1)[1] for k in keys} == set(parts)
    assert all(k.startswith("layer.lokr_w") for k in keys)


@pytest.mark.parametrize("part", ["q", "k", "v", "out"])
def test_lokr_mha_each_part_acts_alone(part):
    """With all four parts adapted, a non-zero delta on one part alone changes the output."""
    model, base, x = adapted("mha_all", "lokr")
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.requires_grad:
                p.zero_()
                if name.endswith(f".{part}"):
                    p.copy_(torch.randn(p.shape, generator=gen))
        assert (model(x) - base(x)).abs().max().item() > 1e-3


def test_mha_parts_are_separate():
    model, base, x = adapted("mha_q", "lora")
    layer = model.layer
    assert list(layer.lora_A["default"].keys()) == ["q"]
    model, base, x = adapted("mha_all", "lora")
    assert list(model.layer.lora_A["default"].keys()) == ["q", "k", "v", "out"]
