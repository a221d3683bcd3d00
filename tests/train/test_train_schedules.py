"""Each schedule's curve: warmup from warmup_start, then the shape the seed guides describe."""

import math

import pytest
import torch

from audiolora.train.schedules import SCHEDULES, build_scheduler, lr_factor

TOTAL = 100  # warmup 10 % -> 10 steps, then 90 decay steps


def curve(name, total=TOTAL, **kw):
    return [lr_factor(name, s, total, **kw) for s in range(total)]


@pytest.mark.parametrize("name", ["cosine", "cosine_restarts", "linear", "constant_warmup"])
def test_warmup_ramps_linearly_from_start_fraction(name):
    c = curve(name, warmup=0.1, warmup_start=0.1)
    assert c[0] == pytest.approx(0.1)
    assert c[5] == pytest.approx(0.1 + 0.9 * 5 / 10)
    assert c[10] == pytest.approx(1.0)
    steps = [b - a for a, b in zip(c[:10], c[1:11], strict=True)]
    assert all(d == pytest.approx(0.09) for d in steps)


def test_constant_has_no_warmup():
    assert curve("constant") == [1.0] * TOTAL


def test_constant_warmup_stays_at_one_after_warmup():
    assert curve("constant_warmup")[10:] == [1.0] * 90


def test_cosine_decays_to_min_ratio():
    c = curve("cosine", min_ratio=0.01)
    assert c[10 + 45] == pytest.approx(0.01 + 0.99 * 0.5)  # halfway through the decay
    assert lr_factor("cosine", TOTAL, TOTAL, min_ratio=0.01) == pytest.approx(0.01)
    assert all(b <= a for a, b in zip(c[10:], c[11:], strict=False))


def test_linear_decays_to_min_ratio_in_equal_steps():
    c = curve("linear", min_ratio=0.01)
    assert c[10 + 45] == pytest.approx(1 - 0.99 * 0.5)
    diffs = {round(a - b, 9) for a, b in zip(c[10:], c[11:], strict=False)}
    assert diffs == {round(0.99 / 90, 9)}
    assert lr_factor("linear", TOTAL, TOTAL, min_ratio=0.01) == pytest.approx(0.01)


def test_cosine_restarts_cycles_grow_twice_as_long():
    total = 10 + 160  # decay steps 160: first cycle 40, then 80 (then 160 ...)
    c = curve("cosine_restarts", total=total, warmup=10 / total, min_ratio=0.0)
    decay = c[10:]
    restarts = [i for i in range(1, len(decay)) if decay[i] > decay[i - 1] + 1e-9]
    assert restarts == [40, 120]
    assert decay[0] == pytest.approx(1.0) and decay[40] == pytest.approx(1.0)
    assert decay[20] == pytest.approx(0.5)  # half of the first cycle
    assert decay[40 + 40] == pytest.approx(0.5)  # half of the second, twice as long
    assert min(decay[:40]) > 0.0


def test_scheduler_applies_factor_to_each_group_lr():
    w = torch.nn.Parameter(torch.zeros(2))
    v = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.AdamW([{"params": [w], "lr": 1e-3}, {"params": [v], "lr": 1e-2}])
    sched = build_scheduler(opt, "cosine", 20, warmup=0.1, warmup_start=0.1, min_ratio=0.01)
    seen = []
    for _ in range(20):
        seen.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    assert seen[0] == pytest.approx([1e-4, 1e-3])
    assert seen[2] == pytest.approx([1e-3, 1e-2])
    for a, b in seen:
        assert b == pytest.approx(10 * a)


def test_every_schedule_is_finite_and_bounded():
    for name in SCHEDULES:
        for total in (1, 2, 7, 1000):
            for s in range(total + 1):
                f = lr_factor(name, s, total)
                assert math.isfinite(f) and 0 <= f <= 1.0 + 1e-12


def test_unknown_schedule_is_an_error():
    with pytest.raises(ValueError):
        lr_factor("exponential", 0, 10)
