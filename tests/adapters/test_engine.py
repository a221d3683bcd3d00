"""Spec rules, target errors, live-check, strict loading, several adapters, rank growth, slices."""

from __future__ import annotations

import copy
import json

import pytest
import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file

from audiolora import (
    AdapterSpec,
    adapter_state_dict,
    attach_adapter,
    estimate_gradient_ranks,
    export_lycoris,
    export_merged,
    grow_rank,
    load_adapter,
    load_adapter_state_dict,
    merge_adapter,
    read_adapter_metadata,
    save_adapter,
    set_active_adapter,
    set_adapter_weights,
    unmerge_adapter,
)
from audiolora.adapters.spec import most_specific
from audiolora.errors import AudioloraError, ConfigError


class Net(nn.Module):
    """A small audio-like stack of real torch layers."""

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.encoder = nn.ModuleList(
            [nn.Conv1d(2, 8, 4, stride=2, padding=1), nn.Conv1d(8, 8, 3, padding=2, dilation=2)]
        )
        self.norm = nn.LayerNorm(8)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.proj = nn.Linear(8, 8)
        self.unused = nn.Linear(8, 8)
        self.decoder = nn.ConvTranspose1d(8, 4, 4, stride=2, padding=1)

    def forward(self, x):
        for conv in self.encoder:
            x = torch.relu(conv(x))
        h = self.norm(x.transpose(1, 2))
        h = h + self.attn(h, h, h, need_weights=False)[0]
        h = self.proj(h)
        return self.decoder(h.transpose(1, 2))


X = torch.randn(2, 2, 32, generator=torch.Generator().manual_seed(5))
ALL = ["encoder.*", "attn", "proj", "decoder"]


def trained(model: nn.Module, scale: float = 0.2, seed: int = 9) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn(p.shape, generator=gen) * scale)
    return model


# ----------------------------------------------------------------------------- spec


def test_most_specific_glob_wins():
    ranks = {"*": 2, "encoder.*": 4, "encoder.0.*": 8, "encoder.0.conv": 16}
    assert most_specific(ranks, "encoder.0.conv") == 16
    assert most_specific(ranks, "encoder.0.rewrite") == 8
    assert most_specific(ranks, "encoder.1.conv") == 4
    assert most_specific(ranks, "decoder.0.conv_tr") == 2
    assert (
        most_specific({"enc*": 1, "*der.0": 2}, "encoder.0") == 2
    )  # tie on 3 literals: later wins
    assert most_specific({"decoder.*": 1}, "encoder.0") is None


def test_spec_is_strict_and_rank_rules_apply():
    with pytest.raises(ValueError):
        AdapterSpec(rnak=4)
    spec = AdapterSpec(targets=ALL, rank=4, layer_ranks={"encoder.*": 2, "encoder.1": 6})
    model = attach_adapter(Net(), spec)
    assert model.encoder[0].r["default"] == 2 and model.encoder[1].r["default"] == 6
    assert model.proj.r["default"] == 4


def test_heuristic_ranks_grow_with_depth():
    spec = AdapterSpec(targets=["encoder.*"], rank=2, rank_mode="heuristic", rank_growth=2.0)
    model = attach_adapter(Net(), spec)
    assert [model.encoder[i].r["default"] for i in (0, 1)] == [2, 4]


# ----------------------------------------------------------------------------- errors


def test_pattern_matching_nothing_names_closest():
    with pytest.raises(AudioloraError, match=r"'encoder\.\*\.conv' matches no module.*encoder\.0"):
        attach_adapter(Net(), AdapterSpec(targets=["encoder.*.conv"]))


def test_pattern_matching_only_unsupported_types():
    with pytest.raises(
        AudioloraError, match=r"'norm' matches only modules lora cannot adapt \(LayerNorm"
    ):
        attach_adapter(Net(), AdapterSpec(targets=["norm"]))


def test_unused_module_is_dead_at_attach():
    with pytest.raises(
        AudioloraError, match=r"1 adapted module\(s\) do not influence the output: unused"
    ):
        attach_adapter(Net(), AdapterSpec(targets=["proj", "unused"]), example_inputs=(X,))


def test_out_proj_through_peft_is_dead_but_audiolora_makes_it_act():
    from peft import LoraConfig, inject_adapter_in_model

    from audiolora.adapters.live import dead_modules

    peft_way = inject_adapter_in_model(LoraConfig(target_modules=["attn.out_proj"]), Net())
    assert dead_modules(peft_way, (X,)) == ["attn.out_proj"]
    model = attach_adapter(Net(), AdapterSpec(targets=["attn.out_proj"]), example_inputs=(X,))
    assert list(model.attn.lora_A["default"]) == ["out"]


def test_live_check_leaves_no_gradient_on_any_parameter():
    """The check's backward also reaches trainable tensors outside the adapters (a new stem's
    slices, a norm kept trainable): none may keep a gradient, or the first step adds it in."""
    from audiolora.adapters.live import dead_modules

    model = attach_adapter(Net(), AdapterSpec(targets=["proj"], rank=2), example_inputs=(X,))
    assert all(p.grad is None for p in model.parameters())
    model.norm.weight.requires_grad_(True)  # trainable, not an adapter
    assert dead_modules(model, (X,)) == []
    assert all(p.grad is None for p in model.parameters())
    earlier = torch.ones_like(model.norm.weight)
    model.norm.weight.grad = earlier
    assert dead_modules(model, (X,)) == []
    assert model.norm.weight.grad is earlier
    assert all(p.grad is None for n, p in model.named_parameters() if n != "norm.weight")


def test_only_adapter_tensors_train():
    model = attach_adapter(Net(), AdapterSpec(targets=ALL, rank=2))
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names and all(".lora_A." in n or ".lora_B." in n for n in names)


# ----------------------------------------------------------------------------- save / load


@pytest.fixture
def saved(tmp_path):
    model = trained(attach_adapter(Net(), AdapterSpec(targets=ALL, rank=2)))
    path = save_adapter(model, tmp_path / "adapter", {"family": "test", "sources": ["a", "b"]})
    return model, path


def test_metadata_is_recorded(saved):
    _, path = saved
    meta = read_adapter_metadata(path)
    assert meta["family"] == "test" and meta["sources"] == ["a", "b"] and meta["kind"] == "lora"
    assert len(meta["base_hash"]) == 16
    assert sorted(p.name for p in path.iterdir()) == [
        "adapter_config.json",
        "adapter_model.safetensors",
        "audiolora.json",
    ]


def test_hash_mismatch_refused_unless_overridden(saved):
    model, path = saved
    with pytest.raises(AudioloraError, match="weights differ"):
        load_adapter(Net(seed=1), path)
    other = load_adapter(Net(seed=1), path, check_hash=False)
    assert other.proj.r["default"] == 2


@pytest.mark.parametrize("damage", ["missing", "unexpected", "shape"])
def test_strict_load_refuses_and_leaves_base_clean(saved, damage):
    _, path = saved
    file = path / "adapter_model.safetensors"
    tensors = load_file(str(file))
    key = next(k for k in tensors if k.endswith("proj.lora_A.weight"))
    if damage == "missing":
        del tensors[key]
    elif damage == "unexpected":
        tensors["base_model.model.extra.lora_A.weight"] = torch.zeros(1)
    else:
        tensors[key] = torch.zeros(3, 8)
    save_file(tensors, str(file))
    base = Net()
    reference = base(X)
    with pytest.raises(
        AudioloraError,
        match={"missing": "missing 1", "unexpected": "unexpected", "shape": "shape mismatch"}[
            damage
        ],
    ):
        load_adapter(base, path)
    assert not any("lora_" in n for n, _ in base.named_parameters())
    assert torch.equal(base(X), reference)


def test_state_dict_round_trip(saved):
    model, _ = saved
    sd = adapter_state_dict(model)
    assert all(".default." not in k for k in sd)
    other = attach_adapter(Net(), AdapterSpec(targets=ALL, rank=2))
    load_adapter_state_dict(other, sd)
    assert torch.equal(other(X), model(X))
    with pytest.raises(AudioloraError, match="missing"):
        load_adapter_state_dict(other, {k: v for k, v in list(sd.items())[1:]})


# ----------------------------------------------------------------------------- several adapters


def test_switch_weight_merge_and_export(tmp_path):
    base = Net().requires_grad_(False)
    model = copy.deepcopy(base)
    attach_adapter(model, AdapterSpec(targets=["proj", "decoder"], rank=2), adapter_name="a")
    trained(model, seed=1)
    attach_adapter(model, AdapterSpec(targets=["proj", "encoder.*"], rank=3), adapter_name="b")
    trained(model, seed=2)
    with torch.no_grad():
        set_active_adapter(model, "a")
        out_a = model(X)
        set_active_adapter(model, "b")
        out_b = model(X)
        assert not torch.allclose(out_a, out_b)
        set_active_adapter(model, ["a", "b"])
        both = model(X)
        set_adapter_weights(model, {"a": 0.5, "b": 0.25})
        weighted = model(X)
        assert not torch.allclose(weighted, both)
        path = export_merged(model, tmp_path / "merged.safetensors")
        merge_adapter(model, {"a": 0.5, "b": 0.25})
        merged = model(X)
        torch.testing.assert_close(merged, weighted, atol=1e-5, rtol=1e-4)
        plain = Net()
        plain.load_state_dict(load_file(str(path)))
        torch.testing.assert_close(plain(X), weighted, atol=1e-5, rtol=1e-4)
        unmerge_adapter(model)
        torch.testing.assert_close(model(X), weighted, atol=1e-5, rtol=1e-4)
        merge_adapter(model, unload=True)
        assert type(model.proj) is nn.Linear
        torch.testing.assert_close(model(X), weighted, atol=1e-5, rtol=1e-4)


def test_load_second_adapter_and_switch(tmp_path, saved):
    model, path = saved
    other = trained(attach_adapter(Net(), AdapterSpec(targets=["proj"], rank=4)), seed=3)
    path_b = save_adapter(other, tmp_path / "b")
    base = Net()
    load_adapter(base, path)
    load_adapter(base, path_b, adapter_name="b")
    with torch.no_grad():
        assert torch.equal(base(X), other(X))  # the loaded adapter is active
        set_active_adapter(base, "default")
        assert torch.equal(base(X), model(X))


# ----------------------------------------------------------------------------- rank growth


def test_grow_rank_keeps_function_and_saves(tmp_path):
    model = trained(attach_adapter(Net(), AdapterSpec(targets=ALL, rank=2, alpha=4)))
    with torch.no_grad():
        before = model(X)
        grow_rank(model, 4)
        torch.testing.assert_close(model(X), before, atol=1e-6, rtol=1e-6)
    assert model.proj.r["default"] == 4 and model.attn.lora_A["default"]["q"].weight.shape == (4, 8)
    assert all(p.requires_grad for n, p in model.named_parameters() if "lora_" in n)
    load_adapter(fresh := Net(), save_adapter(model, tmp_path / "grown"))
    assert torch.equal(fresh(X), model(X))


def test_grow_rank_grouped_conv_keeps_function():
    model = nn.Sequential(
        nn.Conv1d(4, 8, 3, groups=2), nn.ConvTranspose1d(8, 4, 4, stride=2, groups=2)
    )
    x = torch.randn(1, 4, 12)
    trained(attach_adapter(model, AdapterSpec(targets=["0", "1"], rank=2)))
    with torch.no_grad():
        before = model(x)
        grow_rank(model, 6)
        torch.testing.assert_close(model(x), before, atol=1e-6, rtol=1e-6)


# ----------------------------------------------------------------------------- trainable slices


def test_trainable_slice_trains_only_its_channels(tmp_path):
    model = Net()
    frozen_bias = model.decoder.bias.detach().clone()
    full = model.decoder.weight.detach().clone()
    slices = {"decoder.weight": (1, [2, 3]), "decoder.bias": (0, [2, 3])}
    attach_adapter(model, AdapterSpec(targets=["proj"], rank=2), trainable_slices=slices)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=0.1, weight_decay=0.5)
    for _ in range(2):
        opt.zero_grad()
        model(X).pow(2).mean().backward()
        opt.step()
    weight = model.decoder.weight.detach()
    assert torch.equal(weight[:, :2], full[:, :2]) and not torch.equal(weight[:, 2:], full[:, 2:])
    assert torch.equal(model.decoder.bias[:2], frozen_bias[:2])
    assert "audiolora_slices.decoder.weight" in adapter_state_dict(model)
    path = save_adapter(model, tmp_path / "s")
    fresh = Net()
    load_adapter(fresh, path)
    with torch.no_grad():
        assert torch.equal(fresh(X), model(X))
        out = model(X)
        merge_adapter(model, unload=True)
        torch.testing.assert_close(model(X), out, atol=1e-5, rtol=1e-5)
    assert torch.equal(model.decoder.weight[:, 2:], weight[:, 2:])


# ----------------------------------------------------------------------------- ranks from gradients


def test_gradient_ranks_written_and_used(tmp_path):
    model = Net()
    spec = AdapterSpec(targets=ALL, rank=4, rank_mode="gradient", min_rank=1, max_rank=8)
    with pytest.raises(ConfigError, match="estimate_gradient_ranks"):
        attach_adapter(copy.deepcopy(model), spec)
    batches = [torch.randn(2, 2, 32, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    ranks = estimate_gradient_ranks(
        model, spec, batches, lambda m, b: m(b).pow(2).mean(), out_path=tmp_path / "ranks.json"
    )
    assert json.loads((tmp_path / "ranks.json").read_text()) == ranks
    assert set(ranks) == {"encoder.0", "encoder.1", "attn", "proj", "decoder"}
    assert all(1 <= r <= 8 for r in ranks.values()) and len(set(ranks.values())) > 1
    assert not any(p.requires_grad is False for p in model.parameters())  # flags restored
    attach_adapter(model, spec.with_ranks(ranks))
    assert model.decoder.r["default"] == ranks["decoder"]


# ----------------------------------------------------------------------------- LoKr -> LyCORIS


def test_lycoris_export_rebuilds_the_delta(tmp_path):
    from peft.tuners.lokr.layer import make_kron

    model = trained(
        attach_adapter(Net(), AdapterSpec(kind="lokr", targets=["proj", "decoder"], rank=2))
    )
    # LyCORIS has no LoKr for ConvTranspose: the decoder is left out and listed
    out = export_lycoris(model, tmp_path / "lyco", skip_unsupported=True)
    tensors = load_file(str(out / "lokr_weights.safetensors"))
    config = json.loads((out / "lokr_config.json").read_text())
    assert config["algo"] == "lokr" and config["target_modules"] == ["proj"]
    assert config["skipped"] == ["decoder"]
    w1 = tensors["lycoris_proj.lokr_w1"]
    w2 = tensors.get("lycoris_proj.lokr_w2")
    if w2 is None:
        w2 = tensors["lycoris_proj.lokr_w2_a"] @ tensors["lycoris_proj.lokr_w2_b"]
    scale = float(tensors["lycoris_proj.alpha"]) / config["ranks"]["proj"]
    delta = make_kron(w1, w2, scale).reshape(8, 8)
    torch.testing.assert_close(delta, model.proj.get_delta_weight("default"), atol=1e-6, rtol=1e-5)
    with pytest.raises(AudioloraError, match="not a LoKr"):
        export_lycoris(attach_adapter(Net(), AdapterSpec(targets=["proj"])), tmp_path / "x")


# ----------------------------------------------------------------------------- checkpointing


def test_gradient_checkpointing_gives_the_same_gradients():
    from audiolora import enable_gradient_checkpointing
    from audiolora.hub import load_model

    grads = []
    for checkpointed in (False, True):
        torch.manual_seed(0)
        model = load_model("htdemucs-tiny")
        attach_adapter(model, AdapterSpec(targets=["*.conv_tr", "crosstransformer.*"], rank=2))
        trained(model)
        if checkpointed:
            assert enable_gradient_checkpointing(model) > 0
        model(torch.randn(1, 2, 4096, generator=torch.Generator().manual_seed(1))).pow(
            2
        ).mean().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad})
    assert grads[0].keys() == grads[1].keys()
    for n in grads[0]:
        torch.testing.assert_close(grads[1][n], grads[0][n], atol=1e-6, rtol=1e-4)


def test_report_counts_base_weights_not_buffers():
    """A fixed constant (registered buffer, like Basic Pitch's CQT kernels) is not part of the base."""
    from audiolora import parameter_report

    model = nn.Sequential(nn.Linear(10, 20), nn.Linear(20, 5))
    model.register_buffer("kernel", torch.ones(1000))
    attach_adapter(model, AdapterSpec(rank=2, targets=["0"]))
    report = parameter_report(model)
    assert report.base_params == 10 * 20 + 20 + 20 * 5 + 5
    assert report.trainable == 2 * (10 + 20)
