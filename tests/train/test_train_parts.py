"""Best tracking, sampling order, the resource monitor and the train config."""

import math

import pytest

from audiolora.config import load_config
from audiolora.errors import ConfigError
from audiolora.train.best import BestTracker
from audiolora.train.config import BestConfig
from audiolora.train.monitor import ResourceMonitor
from audiolora.train.sampling import EpochBatchSampler, steps_per_epoch


def feed(tracker, values, start=1):
    return [tracker.update(v, step) for step, v in enumerate(values, start)]


def test_moving_average_over_window():
    t = BestTracker(BestConfig(window=3, min_delta=0))
    out = feed(t, [6.0, 3.0, 3.0, 0.0])
    assert [v.smoothed for v in out] == pytest.approx([6.0, 4.5, 4.0, 2.0])


def test_best_needs_min_delta_improvement():
    t = BestTracker(BestConfig(window=1, min_delta=0.1))
    out = feed(t, [1.0, 0.95, 0.89, 0.85, 0.7])
    assert [v.is_best for v in out] == [True, False, True, False, True]
    assert t.best == pytest.approx(0.7) and t.best_step == 5


def test_inactive_before_best_after_but_values_count_in_average():
    t = BestTracker(BestConfig(window=2, min_delta=0, best_after=3, patience=1))
    out = feed(t, [0.1, 0.2, 0.5, 0.6])
    assert [v.active for v in out] == [False, False, True, True]
    assert out[2].is_best and out[2].smoothed == pytest.approx(0.35)
    assert not out[3].is_best and out[3].stop


def test_patience_counts_evaluations_without_new_best():
    t = BestTracker(BestConfig(window=1, min_delta=0, patience=3))
    out = feed(t, [1.0, 1.0, 0.5, 0.6, 0.7, 0.8])
    assert [v.stop for v in out] == [False, False, False, False, False, True]


def test_max_mode_and_nan_values():
    t = BestTracker(BestConfig(window=2, mode="max", min_delta=0))
    out = feed(t, [1.0, math.nan, 3.0])
    assert [v.is_best for v in out] == [True, False, True]
    assert out[1].smoothed == 1.0  # a NaN value does not poison the average


def test_tracker_state_round_trip():
    t = BestTracker(BestConfig(window=2, patience=5))
    feed(t, [1.0, 0.5, 0.7])
    u = BestTracker(BestConfig(window=2, patience=5))
    u.load_state_dict(t.state_dict())
    assert u.update(0.1, 4) == t.update(0.1, 4)


def test_sampler_is_seeded_by_run_seed_and_epoch():
    a = EpochBatchSampler(10, 3, seed=1, epoch=0).batches()
    assert a == EpochBatchSampler(10, 3, seed=1, epoch=0).batches()
    assert a != EpochBatchSampler(10, 3, seed=1, epoch=1).batches()
    assert a != EpochBatchSampler(10, 3, seed=2, epoch=0).batches()
    assert sorted(i for b in a for i in b) == list(range(10))
    assert [len(b) for b in a] == [3, 3, 3, 1]


def test_sampler_start_skips_micro_batches():
    full = list(EpochBatchSampler(10, 2, seed=0, epoch=3))
    assert list(EpochBatchSampler(10, 2, seed=0, epoch=3, start=3)) == full[3:]
    assert len(EpochBatchSampler(10, 2, seed=0, epoch=3, start=3)) == 2


def test_sampler_shards_across_processes():
    shards = [
        EpochBatchSampler(10, 2, seed=0, epoch=0, rank=r, world=3).indices() for r in range(3)
    ]
    assert {len(s) for s in shards} == {4}
    assert set().union(*shards) == set(range(10))
    assert steps_per_epoch(10, 2, 2, world=3) == 1 and steps_per_epoch(10, 1, 4) == 3


def test_monitor_samples_and_warns_once():
    warnings = []
    mon = ResourceMonitor(interval=0.01, warn_gb=1e-6, on_warning=warnings.append).start()
    mon.stop()
    s = mon.summary()
    assert s["samples"] >= 2 and s["peak_rss_gb"] > 0
    assert len(warnings) == 1 and "memory_warn_gb" in warnings[0]
    assert "peak RSS" in mon.format_summary()


def test_train_config_keys_and_errors():
    cfg = load_config(None, ["train.best.patience=3", "train.epochs=2", "train.max_steps=null"])
    assert cfg.train.best.patience == 3 and cfg.train.max_steps is None
    with pytest.raises(ConfigError, match="set train.max_steps or train.epochs"):
        load_config(None, ["train.max_steps=null"])
    with pytest.raises(ConfigError, match="did you mean train.grad_accum"):
        load_config(None, ["train.grad_acum=2"])


def test_validation_randomness_is_fixed_and_isolated():
    import random

    import torch

    from audiolora.train.trainer import isolated_rng

    torch.manual_seed(0)
    random.seed(0)
    expected_next = (torch.rand(3), random.random())
    torch.manual_seed(0)
    random.seed(0)
    draws = []
    for _ in range(2):
        with isolated_rng(7):
            draws.append((torch.rand(3), random.random()))
    assert torch.equal(draws[0][0], draws[1][0]) and draws[0][1] == draws[1][1]
    after = (torch.rand(3), random.random())
    assert torch.equal(after[0], expected_next[0]) and after[1] == expected_next[1]
