"""grow_rank on LoKr adapters: the function is kept, the grown factors train, the result reloads."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from one_layer import One

from audiolora import AdapterSpec, attach_adapter, grow_rank, load_adapter, save_adapter
from audiolora.adapters.io import adapter_state_dict
from audiolora.errors import AudioloraError

# name: (layer, input shape). With decompose_both, ranks 1 and 2 keep both Kronecker halves as
# low-rank pairs in all of them (PEFT stores a half full once rank >= half its larger side: here
# every half has a side of 6 or more).
CASES = {
    "linear": (lambda: nn.Linear(64, 48), (2, 3, 64)),
    "conv1d": (lambda: nn.Conv1d(32, 48, 3, padding=1), (2, 32, 9)),
    "conv2d": (lambda: nn.Conv2d(36, 48, 3, padding=1), (2, 36, 5, 4)),
    "convtranspose2d": (lambda: nn.ConvTranspose2d(36, 48, (4, 1), stride=(2, 1)), (2, 36, 5, 3)),
    "mha": (lambda: nn.MultiheadAttention(48, 4, batch_first=True), (2, 5, 48)),
}


def build(case: str):
    factory, shape = CASES[case]
    torch.manual_seed(0)
    return One(factory()), torch.randn(*shape, generator=torch.Generator().manual_seed(1))


def trained(case: str, rank: int = 1):
    """A LoKr adapter after a few SGD steps (so w1 is no longer zero)."""
    model, x = build(case)
    spec = AdapterSpec(kind="lokr", rank=rank, alpha=3, targets=["layer"], lokr_decompose_both=True)
    attach_adapter(model, spec)
    _steps(model, x)
    return model, x


def _steps(model, x, n: int = 3) -> None:
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    target = torch.ones_like(model(x))
    for _ in range(n):
        opt.zero_grad()
        (model(x) - target).pow(2).mean().backward()
        opt.step()


def _store(key: str) -> str:
    """The factor store a key names (lokr_w1, lokr_w2_a, ...)."""
    return next((part for part in key.split(".") if part.startswith("lokr_")), "")


def _shapes(model) -> dict[str, tuple]:
    return {k: tuple(v.shape) for k, v in adapter_state_dict(model).items()}


@pytest.mark.parametrize("case", list(CASES))
def test_grow_lokr_keeps_function_and_trains_on(case, tmp_path):
    model, x = trained(case)
    before_shapes = _shapes(model)
    assert any("_a" in k for k in before_shapes)  # has rank-1 pairs to grow
    with torch.no_grad():
        before = model(x)
        grow_rank(model, 2)
        torch.testing.assert_close(model(x), before, atol=1e-6, rtol=0)
    grown = _shapes(model)
    for k, shape in before_shapes.items():
        expected = {"_a": (shape[0], 2), "_b": (2, shape[1])}.get(_store(k)[-2:], shape)
        assert grown[k] == expected, k
    load_adapter(fresh := build(case)[0], save_adapter(model, tmp_path / "grown"))
    with torch.no_grad():
        assert torch.equal(fresh(x), model(x))
    # training goes on, and the new rank reaches the output side's new columns
    model.zero_grad()
    (model(x) - torch.ones_like(before)).pow(2).mean().backward()
    new_cols = [p.grad[:, 1:] for n, p in model.named_parameters() if _store(n).endswith("_a")]
    assert new_cols and any(g.abs().sum() > 0 for g in new_cols)
    _steps(model, x)
    with torch.no_grad():
        assert (model(x) - before).abs().max() > 1e-4


@pytest.mark.parametrize("case", ["linear", "conv2d", "mha"])
def test_grow_lokr_past_the_full_threshold_stores_the_product(case, tmp_path):
    """At a rank PEFT stores a half full, that half becomes its (exact) product, so the adapter
    reloads under PEFT's layout for the new rank."""
    model, x = trained(case)
    with torch.no_grad():
        before = model(x)
        grow_rank(model, 8)
        torch.testing.assert_close(model(x), before, atol=1e-6, rtol=0)
    assert {_store(k) for k in _shapes(model)} == {"lokr_w1", "lokr_w2"}
    load_adapter(fresh := build(case)[0], save_adapter(model, tmp_path / "grown"))
    with torch.no_grad():
        assert torch.equal(fresh(x), model(x))


def test_grow_lokr_conv1d_full_w2_is_refused_and_nothing_changes():
    model, x = trained("conv1d")
    shapes = _shapes(model)
    with torch.no_grad():
        before = model(x)
    with pytest.raises(AudioloraError, match=r"grow_rank: .*layer's w2 .*at most 3$"):
        grow_rank(model, 4)
    assert _shapes(model) == shapes and model.layer.r["default"] == 1
    with torch.no_grad():
        assert torch.equal(model(x), before)


def test_grow_lokr_below_the_current_rank_is_refused():
    model, _ = trained("linear", rank=2)
    with pytest.raises(AudioloraError, match="must exceed the current 2"):
        grow_rank(model, 1)
