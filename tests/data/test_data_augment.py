"""Batch augmentation: every draw from the given generator; each transform does what it says."""

from __future__ import annotations

import torch

from audiolora.config import load_config
from audiolora.data.augment import StemAugment, flip_polarity, random_gain, remix, swap_channels


def batch(b=6, s=4, c=2, t=64):
    # each (example, stem) has its own signature so the tests can trace where it went
    x = torch.randn(b, s, c, t, generator=torch.Generator().manual_seed(0))
    return x


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_same_generator_seed_same_result_global_rng_untouched():
    x = batch()
    aug = StemAugment()
    torch.manual_seed(1)
    state = torch.get_rng_state()
    a = aug(x, gen(5))
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(2)
    assert torch.equal(a, aug(x, gen(5)))
    assert not torch.equal(a, aug(x, gen(6)))
    assert a.shape == x.shape


def test_remix_moves_whole_stems_across_the_batch():
    x = batch()
    y = remix(x, gen(3))
    moved = False
    for s in range(x.shape[1]):
        for b in range(x.shape[0]):
            sources = [k for k in range(x.shape[0]) if torch.equal(y[b, s], x[k, s])]
            assert len(sources) == 1  # every output stem is one input stem of the same source
            moved |= sources[0] != b
        # a permutation: each example's stem used exactly once
        used = sorted(
            next(k for k in range(x.shape[0]) if torch.equal(y[b, s], x[k, s]))
            for b in range(x.shape[0])
        )
        assert used == list(range(x.shape[0]))
    assert moved
    assert torch.equal(remix(x[:1], gen(3)), x[:1])


def test_gain_polarity_and_channel_swap():
    x = batch()
    g = random_gain(x, gen(1), 0.5, 1.5)
    ratio = g / x
    per_stem = ratio.flatten(2)
    assert torch.allclose(per_stem, per_stem[..., :1].expand_as(per_stem), rtol=1e-5)
    assert per_stem.min() >= 0.5 and per_stem.max() <= 1.5
    p = flip_polarity(x, gen(2))
    signs = (p / x).flatten(2)[..., 0]
    assert set(signs.round().unique().tolist()) == {-1.0, 1.0}
    w = swap_channels(x, gen(4))
    swapped = [torch.equal(w[b, s], x[b, s].flip(0)) for b in range(6) for s in range(4)]
    kept = [torch.equal(w[b, s], x[b, s]) for b in range(6) for s in range(4)]
    assert all(a or b for a, b in zip(swapped, kept, strict=True)) and any(swapped) and any(kept)
    mono = x[:, :, :1]
    assert torch.equal(swap_channels(mono, gen(4)), mono)


def test_config_builds_the_chain():
    cfg = load_config(None, ["data.augment.remix=false", "data.augment.gain=null"])
    aug = cfg.data.augment.build()
    assert aug == StemAugment(gain=None, remix=False, polarity=True, channel_swap=True)
    assert load_config(None, ["data.augment.enabled=false"]).data.augment.build() is None
