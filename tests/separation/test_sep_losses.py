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


def test_sdr_loss_is_the_mean_negative_sdr_and_blind_to_level():
    torch.manual_seed(0)
    target = torch.randn(2, 2, 2, 4096)
    target[:, 1] *= 0.01  # a hi-hat 40 dB under the kick
    noise = torch.randn_like(target)
    estimate = target + 0.1 * noise * target.pow(2).mean(-1, keepdim=True).sqrt()  # 20 dB SDR each
    sdr = SeparationOptions(loss="sdr")
    loss = float(separation_loss(estimate, target, sdr, STEMS))
    expected = -10 * torch.log10(target.pow(2).sum(-1) / (estimate - target).pow(2).sum(-1))
    assert loss == pytest.approx(float(expected.mean()), abs=1e-3)
    assert loss == pytest.approx(-20.0, abs=0.5)
    # Under L1 the quiet stem's error barely counts; in dB it counts as much as the kick's.
    quiet_wrong = estimate.clone()
    quiet_wrong[:, 1] = 0  # the hi-hat estimated as silence
    loud_wrong = estimate.clone()
    loud_wrong[:, 0] = 0

    def cost(wrong, options):  # what silencing one stem adds to the loss
        return float(separation_loss(wrong, target, options, STEMS)) - float(
            separation_loss(estimate, target, options, STEMS)
        )

    l1 = SeparationOptions(loss="l1")
    assert cost(quiet_wrong, l1) < 0.02 * cost(loud_wrong, l1)
    assert cost(quiet_wrong, sdr) == pytest.approx(cost(loud_wrong, sdr), rel=0.05)


def test_sdr_loss_skips_silent_targets_and_mixes_with_l1():
    torch.manual_seed(1)
    target = torch.randn(3, 2, 2, 2048)
    target[0, 1] = 0  # no hi-hat in the first segment
    estimate = target + 0.1 * torch.randn_like(target)
    sdr = float(separation_loss(estimate, target, SeparationOptions(loss="sdr"), STEMS))
    ref = target[1:, 1].pow(2).sum(-1) / (estimate[1:, 1] - target[1:, 1]).pow(2).sum(-1)
    kick = target[:, 0].pow(2).sum(-1) / (estimate[:, 0] - target[:, 0]).pow(2).sum(-1)
    expected = (-10 * torch.log10(kick).mean() - 10 * torch.log10(ref).mean()) / 2
    assert sdr == pytest.approx(float(expected), abs=1e-3)
    both = SeparationOptions(loss="l1+sdr", sdr_weight=0.5)
    l1 = float(separation_loss(estimate, target, SeparationOptions(loss="l1"), STEMS))
    assert float(separation_loss(estimate, target, both, STEMS)) == pytest.approx(
        l1 + 0.5 * sdr, abs=1e-4
    )
