import numpy as np
import pytest

from audiolora.metrics.sdr import bsseval_v4_frames, museval_metrics, sdr_bsseval_v4, sdr_mdx

SR = 1000


def _museval_v4(ref, est, window):
    """museval.evaluate(mode="v4") on [S, C, T] arrays: per-frame SDR [S, frames]."""
    sdr, _isr, _sir, _sar, _ = museval_metrics().bss_eval(
        ref.transpose(0, 2, 1),
        est.transpose(0, 2, 1),
        compute_permutation=False,
        window=window,
        hop=window,
        framewise_filters=False,
        bsseval_sources_version=False,
    )
    return sdr


@pytest.fixture
def arrays():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((3, 2, 4 * SR + 321))
    noise = rng.standard_normal(ref.shape) * np.linspace(0.05, 2.0, ref.shape[-1])
    est = ref + noise
    ref[1, :, SR : 2 * SR] = 0.0  # a silent frame: museval marks the whole frame NaN
    return ref, est


def test_v4_frames_equal_museval(arrays):
    ref, est = arrays
    ours = bsseval_v4_frames(ref, est, SR)
    theirs = _museval_v4(ref, est, SR)
    assert ours.shape == theirs.shape
    assert np.array_equal(np.isnan(ours), np.isnan(theirs))
    assert np.nanmax(np.abs(ours - theirs)) < 1e-9


def test_v4_median_skips_nan_frames(arrays):
    ref, est = arrays
    frames = _museval_v4(ref, est, SR)
    expected = [np.median(row[~np.isnan(row)]) for row in frames]
    assert np.allclose(sdr_bsseval_v4(ref, est, SR), expected)


def test_mdx_sdr_equals_museval_on_one_whole_track_frame():
    rng = np.random.default_rng(1)
    ref = rng.standard_normal((2, 2, 3 * SR))
    est = ref + 0.3 * rng.standard_normal(ref.shape)
    theirs = _museval_v4(ref, est, ref.shape[-1])[:, 0]
    assert np.allclose(sdr_mdx(ref, est), theirs, atol=1e-6)


def test_fast_bss_eval_agrees_on_mono_whole_signal():
    import fast_bss_eval

    rng = np.random.default_rng(2)
    ref = rng.standard_normal((2, 1, 2 * SR))
    est = 0.8 * ref + 0.1 * rng.standard_normal(ref.shape)
    # fast_bss_eval's SDR allows a 1-tap gain (filter_length=1); with a pure gain error the
    # scale-aware MDX SDR is lower, the projection-based one higher: check the ordering and
    # that at gain 1 they coincide.
    fb = fast_bss_eval.sdr(ref[:, 0], est[:, 0], filter_length=1)
    assert np.all(fb > sdr_mdx(ref, est))
    est1 = ref + 0.1 * rng.standard_normal(ref.shape)
    fb1 = fast_bss_eval.sdr(ref[:, 0], est1[:, 0], filter_length=1)
    assert np.allclose(fb1, sdr_mdx(ref, est1), atol=0.05)


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="differ in shape"):
        sdr_mdx(np.zeros((1, 2, 10)), np.zeros((1, 2, 11)))


def test_ideal_ratio_mask_separates_disjoint_spectra_and_splits_identical_stems():
    import torch

    from audiolora.metrics.sdr import ideal_ratio_mask

    sr, n = 22050, 22050
    t = torch.arange(n, dtype=torch.float64) / sr
    low = torch.sin(2 * torch.pi * 110 * t)
    high = 0.1 * torch.sin(2 * torch.pi * 6000 * t)  # 20 dB quieter, far away in frequency
    stems = torch.stack([low, high])[:, None].repeat(1, 2, 1)
    est = ideal_ratio_mask(stems)
    assert est.shape == stems.shape
    assert (sdr_mdx(stems, est) > 30).all()
    # Two identical stems get half of the mix each: each estimate is the stem itself.
    twins = torch.stack([low, low])[:, None]
    assert (sdr_mdx(twins, ideal_ratio_mask(twins)) > 40).all()
    # A stem mixed with another one in the same bins is not recovered: the oracle is a bound.
    noise = torch.randn(2, n, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    overlap = torch.stack([noise[0], 0.5 * noise[1]])[:, None]
    assert sdr_mdx(overlap, ideal_ratio_mask(overlap))[1] < 15
