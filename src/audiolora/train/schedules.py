"""Learning-rate schedules as pure functions of the optimizer step: a factor applied to each
parameter group's own learning rate.

Written here rather than taken from torch or transformers: torch's cosine schedulers take one absolute
`eta_min` for all parameter groups (ours have different learning rates) and chaining them with
SequentialLR is awkward to checkpoint; transformers' warmups start from zero and its restarts are
equal-length. A pure function of the step also makes resume exact by construction.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

SCHEDULES = ("cosine", "cosine_restarts", "linear", "constant", "constant_warmup")


def warmup_steps(total_steps: int, warmup: float) -> int:
    """Number of warmup steps for a fraction `warmup` of `total_steps`."""
    return int(round(total_steps * warmup))


def lr_factor(
    name: str,
    step: int,
    total_steps: int,
    warmup: float = 0.1,
    warmup_start: float = 0.1,
    min_ratio: float = 0.01,
) -> float:
    """The learning-rate factor at optimizer step `step` (0-based) of `total_steps`.

    Every schedule but `constant` first ramps linearly from `warmup_start` to 1 over a fraction
    `warmup` of the steps. Then: cosine to `min_ratio`; cosine with restarts (first cycle a quarter
    of the remaining steps, each next twice as long); linear to `min_ratio`; constant.
    """
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}")
    if name == "constant":
        return 1.0
    n_warm = warmup_steps(total_steps, warmup)
    if step < n_warm:
        return warmup_start + (1.0 - warmup_start) * step / n_warm
    if name == "constant_warmup":
        return 1.0
    decay_steps = max(1, total_steps - n_warm)
    t = min(step - n_warm, decay_steps)
    if name == "linear":
        return 1.0 - (1.0 - min_ratio) * t / decay_steps
    if name == "cosine":
        progress = t / decay_steps
    else:  # cosine_restarts: cycles of c, 2c, 4c, ... with c a quarter of the decay steps
        cycle = max(1.0, decay_steps / 4)
        start = 0.0
        while t >= start + cycle:
            start += cycle
            cycle *= 2
        progress = (t - start) / cycle
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def make_lambda(
    name: str, total_steps: int, warmup: float, warmup_start: float, min_ratio: float
) -> Callable[[int], float]:
    """A one-argument factor function for torch's LambdaLR."""

    def factor(step: int) -> float:
        return lr_factor(name, step, total_steps, warmup, warmup_start, min_ratio)

    return factor


def build_scheduler(
    optimizer: Optimizer,
    name: str,
    total_steps: int,
    warmup: float = 0.1,
    warmup_start: float = 0.1,
    min_ratio: float = 0.01,
) -> LambdaLR:
    """A LambdaLR driving every parameter group with the named schedule."""
    return LambdaLR(optimizer, make_lambda(name, total_steps, warmup, warmup_start, min_ratio))
