"""Blind listening tests: clips of two (or more) systems in a seeded random order, 1-5 ratings
appended to a CSV, and the mean opinion score (MOS) per system with a 95 % t-interval."""

from __future__ import annotations

import csv
import io
import math
import os
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.layout import AUDIO_SUFFIXES
from ..errors import DataError

COLUMNS = ("time", "session", "rater", "trial", "system", "clip", "rating")


@dataclass(frozen=True)
class Trial:
    """One clip to rate; `system` stays hidden from the listener until the summary."""

    index: int
    system: str
    path: Path


@dataclass(frozen=True)
class SystemScore:
    system: str
    n: int
    mos: float
    low: float  # 95 % interval; nan with fewer than two ratings
    high: float


def clips(folder: str | os.PathLike) -> list[Path]:
    """The audio files directly in `folder`, sorted; DataError when there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder of clips")
    found = sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
    if not found:
        raise DataError(f"{folder}: no audio clips ({', '.join(AUDIO_SUFFIXES)})")
    return found


def make_trials(systems: Mapping[str, str | os.PathLike], seed: int) -> list[Trial]:
    """Every clip of every system `{name: folder}`, shuffled with `seed`."""
    if len(systems) < 2:
        raise DataError("a listening test needs two systems to compare")
    pool = [(name, path) for name, folder in systems.items() for path in clips(folder)]
    order = np.random.default_rng(seed).permutation(len(pool))
    return [Trial(i, *pool[j]) for i, j in enumerate(order)]


def append_rating(
    csv_path: str | os.PathLike, session: str, rater: str, trial: Trial, rating: int
) -> Path:
    """Append one rating row (header first for a new file); the file is replaced atomically."""
    if isinstance(rating, bool) or int(rating) != rating or not 1 <= int(rating) <= 5:
        raise DataError(f"rating {rating!r}: must be a whole number from 1 to 5")
    path = Path(csv_path)
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    if old and not old.startswith(",".join(COLUMNS)):
        raise DataError(f"{path}: not a listening-test CSV (header {','.join(COLUMNS)})")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if not old:
        writer.writerow(COLUMNS)
    writer.writerow(
        [
            time.strftime("%Y-%m-%dT%H:%M:%S"),
            session,
            rater,
            trial.index,
            trial.system,
            str(trial.path),
            int(rating),
        ]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(old + buf.getvalue())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def read_ratings(csv_path: str | os.PathLike, session: str | None = None) -> list[dict]:
    """Rows of a ratings CSV (only `session`'s when given), rating as int."""
    path = Path(csv_path)
    if not path.is_file():
        raise DataError(f"{path}: no ratings CSV")
    rows = []
    for line, row in enumerate(csv.DictReader(path.read_text(encoding="utf-8").splitlines()), 2):
        try:
            row["rating"] = int(row["rating"])
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{path} line {line}: rating is not a number 1-5") from None
        if session is None or row.get("session") == session:
            rows.append(row)
    return rows


def mos(ratings: Iterable[int]) -> tuple[float, float, float]:
    """(mean, low, high): mean opinion score with a two-sided 95 % Student-t interval."""
    from scipy import stats

    x = np.asarray(list(ratings), dtype=np.float64)
    if x.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if x.size < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return mean, mean - half, mean + half


def summarize(rows: Iterable[Mapping]) -> list[SystemScore]:
    """MOS and 95 % interval per system, in order of first appearance."""
    by_system: dict[str, list[int]] = {}
    for row in rows:
        by_system.setdefault(str(row["system"]), []).append(int(row["rating"]))
    return [SystemScore(s, len(r), *mos(r)) for s, r in by_system.items()]


def format_summary(scores: list[SystemScore]) -> str:
    """One line per system, then the relative change of the second system over the first."""
    lines = []
    for s in scores:
        interval = "n/a" if math.isnan(s.low) else f"[{s.low:.2f}, {s.high:.2f}]"
        lines.append(f"{s.system}: MOS {s.mos:.2f}, 95 % interval {interval}, {s.n} ratings")
    if len(scores) >= 2 and scores[0].mos > 0:
        change = 100 * (scores[1].mos - scores[0].mos) / scores[0].mos
        lines.append(f"{scores[1].system} vs {scores[0].system}: {change:+.0f} % MOS")
    return "\n".join(lines)
