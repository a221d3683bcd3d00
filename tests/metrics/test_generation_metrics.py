"""Generation metrics on known inputs: log-mel distance, AFD, Fréchet, Basic Pitch embedding,
compare_systems and the style classifier."""

from __future__ import annotations

import numpy as np
import pytest

from audiolora.errors import DataError
from audiolora.metrics import generation as g
from audiolora.metrics.style import StyleClassifier

SR = 16000


def tone(freq: float, seconds: float = 1.0, sr: int = SR, harmonics: int = 4) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    wave = sum(np.sin(2 * np.pi * freq * k * t) / k for k in range(1, harmonics + 1))
    return (0.3 * wave).astype(np.float32)


def noise(seed: int, seconds: float = 1.0, sr: int = SR) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * sr))).astype(np.float32)


TONES = [tone(f) for f in (220.0, 277.2, 330.0)]


def test_identical_sets_give_zero():
    stereo = [np.stack([c, c]) for c in TONES]
    assert g.log_mel_distance(TONES[0], TONES[0], SR) == 0.0
    assert g.set_log_mel_distance(TONES, TONES, SR) == 0.0
    assert g.audio_feature_distance(TONES, stereo, SR) == pytest.approx(0.0, abs=1e-9)
    emb = np.random.default_rng(0).standard_normal((6, 12))
    assert g.frechet_distance(emb, emb) == pytest.approx(0.0, abs=1e-9)


def test_distances_grow_as_the_signal_is_perturbed_more():
    levels = [0.03, 0.1, 0.3, 1.0]
    perturbed = [[c + lvl * noise(k, sr=SR) * 3 for k, c in enumerate(TONES)] for lvl in levels]
    paired = [g.log_mel_distance(TONES[0], p[0], SR) for p in perturbed]
    sets = [g.set_log_mel_distance(TONES, p, SR) for p in perturbed]
    afd = [g.audio_feature_distance(TONES, p, SR) for p in perturbed]
    for values in (paired, sets, afd):
        assert all(a < b for a, b in zip(values, values[1:], strict=False)), values
    shifts = [0.0, 0.5, 1.0, 2.0]  # Fréchet: one set moved by growing offsets
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((20, 8)), rng.standard_normal((20, 8))
    fd = [g.frechet_distance(a, b + s) for s in shifts]
    assert all(x < y for x, y in zip(fd, fd[1:], strict=False)), fd


def test_afd_sine_vs_noise_larger_than_sine_vs_detuned_sine():
    sines = [tone(f, harmonics=1) for f in (220.0, 330.0, 440.0)]
    detuned = [tone(f * 1.01, harmonics=1) for f in (220.0, 330.0, 440.0)]
    noises = [noise(k) for k in range(3)]
    near = g.audio_feature_distance(sines, detuned, SR)
    far = g.audio_feature_distance(sines, noises, SR)
    assert 0 < near < far / 10, (near, far)
    assert g.set_log_mel_distance(sines, detuned, SR) < g.set_log_mel_distance(sines, noises, SR)


def test_loudness_does_not_count():
    quiet = [0.05 * c for c in TONES]
    assert g.set_log_mel_distance(TONES, quiet, SR) == pytest.approx(0.0, abs=1e-3)
    assert g.audio_feature_distance(TONES, quiet, SR) == pytest.approx(0.0, abs=1e-4)


def test_frechet_symmetric_exact_and_stable_with_few_samples():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((30, 5)) * [1, 2, 3, 1, 1] + 1.0
    b = rng.standard_normal((25, 5)) * [2, 1, 1, 3, 1]
    assert g.frechet_distance(a, b) == pytest.approx(g.frechet_distance(b, a), rel=1e-9)
    # diagonal covariances: ||mu_a - mu_b||^2 + sum (sqrt(var_a) - sqrt(var_b))^2
    ca, cb = np.diag([1.0, 4.0, 9.0]), np.diag([9.0, 1.0, 4.0])
    ea = _with_cov(rng, np.zeros(3), ca, 40)
    eb = _with_cov(rng, np.ones(3), cb, 40)
    expect = 3.0 + float(((np.sqrt(np.diag(ca)) - np.sqrt(np.diag(cb))) ** 2).sum())
    assert g.frechet_distance(ea, eb, eps=0.0) == pytest.approx(expect, rel=1e-9)
    few_a, few_b = rng.standard_normal((3, 64)), rng.standard_normal((4, 64))  # n << D
    value = g.frechet_distance(few_a, few_b)
    assert np.isfinite(value) and value > 0
    assert g.frechet_distance(few_a, few_a) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(DataError, match="at least 2 clips"):
        g.frechet_distance(few_a[:1], few_b)


def _with_cov(rng, mean: np.ndarray, cov: np.ndarray, n: int) -> np.ndarray:
    """n samples whose sample mean and sample covariance are exactly `mean` and `cov`."""
    x = rng.standard_normal((n, len(mean)))
    x -= x.mean(axis=0)
    x = x @ np.linalg.inv(np.linalg.cholesky(np.cov(x, rowvar=False))).T
    return x @ np.linalg.cholesky(cov).T + mean


def test_compare_systems_reports_base_adapted_and_change():
    refs = [tone(f) for f in (220.0, 247.0, 262.0, 294.0)]
    adapted = [tone(f * 1.02) for f in (220.0, 247.0, 262.0, 294.0)]
    base = [noise(k) for k in range(4)]

    def embed(clips, sr):
        return g.afd_matrix(clips, sr)

    labels = ["noise"] * 4 + ["tones"] * 4
    style = StyleClassifier(["noise", "tones"], embedding=False)
    style.fit(g.afd_matrix([noise(k + 10) for k in range(4)] + refs, SR), labels)
    table = g.compare_systems(refs, base, adapted, SR, embed=embed, style=style)
    assert set(table) == {"afd", "log_mel", "frechet", "style_accuracy"}
    for metric in ("afd", "log_mel", "frechet"):
        row = table[metric]
        assert row["adapted"] < row["base"] and row["change_pct"] < 0, (metric, row)
        expect = 100 * (row["adapted"] - row["base"]) / row["base"]
        assert row["change_pct"] == pytest.approx(expect, abs=0.01)
    assert table["style_accuracy"]["base"] == 0.0 and table["style_accuracy"]["adapted"] == 1.0
    assert table["style_accuracy"]["change_pct"] is None  # from 0: no relative change
    with pytest.raises(DataError, match="base: an empty set"):
        g.compare_systems(refs, [], adapted, SR, embed=embed)


def test_bad_clips_are_one_line_errors():
    with pytest.raises(DataError, match="NaN or inf"):
        g.log_mel(np.array([0.0, np.nan] * 100), SR)
    with pytest.raises(DataError, match="shape"):
        g.log_mel(np.zeros((2, 2, 10)), SR)
