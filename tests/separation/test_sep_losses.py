"""Separation losses: the MR-STFT resolutions and per-source weights."""

import pytest
import torch

from audiolora.errors import ConfigError
from audiolora.families.separation.config import SeparationOptions
from audiolora.families.separation.losses import _mrstft, separation_loss

STEMS = ["kick", "hihat"]


def test_mrstft_hops_are_a_quarter_window():
    loss = _mrstft()
    assert [(s.fft_size, s.hop_size, s.win_length) for s in loss.stft_losses] == [
        (2048, 512, 2048),
        (1024, 256, 1024),
        (512, 128, 512),
    ]


def test_weights_scale_only_their_stem():
    torch.manual_seed(0)
    target = torch.randn(2, 2, 2, 4096)
    estimate = target.clone()
    estimate[:, 1] += 0.1 * torch.randn(2, 2, 4096)  # only the hihat is wrong
    for kind in ("l1", "l1+mrstft"):
        plain = separation_loss(estimate, target, SeparationOptions(loss=kind), STEMS)
        heavy = separation_loss(
            estimate, target, SeparationOptions(loss=kind, source_weights={"hihat": 3.0}), STEMS
        )
        assert float(separation_loss(target, target, SeparationOptions(loss=kind), STEMS)) < 1e-3
        # weighted mean: hihat term h, kick 0 -> h/2 plain, 3h/4 weighted
        assert float(heavy) == pytest.approx(1.5 * float(plain), rel=1e-5)
    with pytest.raises(ConfigError, match="snare"):
        separation_loss(estimate, target, SeparationOptions(source_weights={"snare": 2}), STEMS)
