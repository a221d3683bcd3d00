import pytest
import torch
from sep_tiny import ODD_ORDER, SR, assert_f32_close, tiny_hdemucs, tiny_htdemucs

from audiolora.adapters import AdapterSpec, attach_adapter
from audiolora.errors import ConfigError
from audiolora.families.separation.linkage import parse_linkage, relink, source_dependent_keys
from audiolora.families.separation.targets import default_targets, resolve_aliases

FIVE = ["other", "kick", "vocals", "bass", "hihat"]
GUIDE = {"other": "other", "kick": "drums", "vocals": "vocals", "bass": "bass", "hihat": "new"}


def _outputs(model, x):
    with torch.no_grad():
        return model(x)


@pytest.mark.parametrize("build", [tiny_htdemucs, tiny_hdemucs])
def test_linked_stems_equal_the_base_at_step0_with_odd_base_order(build):
    base = build()
    assert base.sources == ODD_ORDER
    links = parse_linkage(GUIDE, base.sources, FIVE, "zeros")
    model, slices = relink(base, links)
    assert model.sources == FIVE
    x = torch.randn(1, 2, 2 * SR)
    old, new = _outputs(base, x), _outputs(model, x)
    for i, link in enumerate(links):
        if link.base is not None:
            assert_f32_close(new[:, i], old[:, base.sources.index(link.base)], link.stem)
    # only the hihat's slices of the last decoder layers are new: 4 channels (spec), 2 (time)
    dep = source_dependent_keys(base)
    assert set(slices) == set(dep)
    assert all(len(idx) in (4, 2) for _, idx in slices.values())


def test_copy_init_and_dropping_stems():
    base = tiny_htdemucs()
    links = parse_linkage(
        {"kick": "drums", "hihat": "new:copy:drums"}, base.sources, ["kick", "hihat"]
    )
    model, _ = relink(base, links)
    x = torch.randn(1, 2, 2 * SR)
    out, ref = _outputs(model, x), _outputs(base, x)
    assert model.sources == ["kick", "hihat"]
    assert_f32_close(out[:, 0], ref[:, 1], "kick")
    assert_f32_close(out[:, 1], ref[:, 1], "hihat (copy of drums)")


def test_six_stem_base():
    six = ["drums", "bass", "other", "vocals", "guitar", "piano"]
    base = tiny_htdemucs(sources=six)
    links = parse_linkage(
        {"keys": "piano", "gtr": "guitar", "kick": "drums", "hihat": "new"}, six, None
    )
    model, slices = relink(base, links)
    x = torch.randn(1, 2, 2 * SR)
    out, ref = _outputs(model, x), _outputs(base, x)
    assert_f32_close(out[:, 0], ref[:, 5], "keys")
    assert_f32_close(out[:, 1], ref[:, 4], "gtr")
    assert slices


@pytest.mark.parametrize(
    "linkage, sources, message",
    [
        ({**GUIDE, "kick": "drum"}, FIVE, "'drum' is not a stem of the base"),
        (
            {k: v for k, v in GUIDE.items() if k != "bass"},
            FIVE,
            "dataset stem 'bass' is not mapped",
        ),
        ({**GUIDE, "snare": "new"}, FIVE, "'snare' is not a dataset stem"),
        ({**GUIDE, "hihat": "new:random"}, FIVE, "new:zeros, new:fresh or new:copy"),
        ({**GUIDE, "hihat": "new:copy:kick"}, FIVE, "copy source 'kick' is not a base stem"),
        (None, FIVE, "not among the base's stems"),
    ],
)
def test_bad_linkage_is_one_line(linkage, sources, message):
    with pytest.raises(ConfigError, match=message) as info:
        parse_linkage(linkage, ODD_ORDER, sources)
    assert "\n" not in info.value.one_line()


def test_gradients_reach_new_stem_slices_and_frozen_tensors_stay():
    base = tiny_htdemucs()
    links = parse_linkage(GUIDE, base.sources, FIVE, "fresh")
    model, slices = relink(base, links)
    spec = AdapterSpec(rank=2, targets=default_targets(model))
    attach_adapter(model, spec, trainable_slices=slices)
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    slice_params = [n for n in trainable if ".parametrizations." in n]
    assert slice_params and any("lora_" in n for n in trainable)
    before = {n: p.detach().clone() for n, p in trainable.items()}
    opt = torch.optim.SGD(trainable.values(), lr=0.1)
    model.train()
    segment = model.segment
    x = torch.randn(2, 5, 2, 2 * SR)
    loss = (model(x.sum(1)) - x).abs().mean()
    model.segment = segment
    loss.backward()
    for n in slice_params:
        assert trainable[n].grad is not None and trainable[n].grad.abs().sum() > 0, n
    opt.step()
    for n, p in model.named_parameters():
        if n in frozen:
            assert torch.equal(p, frozen[n]), f"frozen {n} changed"
    assert any(not torch.equal(trainable[n], before[n]) for n in slice_params)


def test_guide_layer_ranks_globs_resolve():
    model = tiny_htdemucs()
    ranks = resolve_aliases({"encoder.0.*": 16, "transformer.*": 12, "decoder.1.*": 8}, model)
    assert "crosstransformer.*" in ranks and "encoder.0.*" in ranks
    spec = AdapterSpec(rank=4, layer_ranks=ranks, targets=default_targets(model))
    attach_adapter(model, spec)
    from audiolora.adapters import adapters_of

    record = adapters_of(model)["default"]
    assert record.ranks["encoder.0.conv"] == 16
    assert any(k.startswith("crosstransformer.") and v == 12 for k, v in record.ranks.items())
