"""Best-adapter tracking on a moving average of a validation metric, and early stopping."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from .config import BestConfig


@dataclass
class Verdict:
    """What one evaluation means: the smoothed value, a new best, and whether to stop."""

    smoothed: float
    active: bool
    is_best: bool
    stop: bool


@dataclass
class BestTracker:
    """Moving average over the last `window` values; active from step `best_after`; a new best
    only when better than the previous best by `min_delta`; stop after `patience` active
    evaluations without a new best."""

    cfg: BestConfig
    values: list[float] = field(default_factory=list)
    best: float | None = None
    best_step: int | None = None
    since_best: int = 0

    def _better(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.cfg.mode == "min":
            return value < self.best - self.cfg.min_delta
        return value > self.best + self.cfg.min_delta

    def update(self, value: float, step: int) -> Verdict:
        """Record the metric of the evaluation at `step` and judge it."""
        self.values.append(float(value))
        recent = self.values[-self.cfg.window :]
        finite = [v for v in recent if math.isfinite(v)]
        smoothed = sum(finite) / len(finite) if finite else math.nan
        if step < self.cfg.best_after:
            return Verdict(smoothed, active=False, is_best=False, stop=False)
        is_best = math.isfinite(smoothed) and self._better(smoothed)
        if is_best:
            self.best, self.best_step, self.since_best = smoothed, step, 0
        else:
            self.since_best += 1
        stop = self.cfg.patience is not None and self.since_best >= self.cfg.patience
        return Verdict(smoothed, active=True, is_best=is_best, stop=stop)

    def state_dict(self) -> dict:
        state = asdict(self)
        state.pop("cfg")
        return state

    def load_state_dict(self, state: dict) -> None:
        self.values = [float(v) for v in state["values"]]
        self.best = state["best"]
        self.best_step = state["best_step"]
        self.since_best = int(state["since_best"])
