"""Listening-test statistics: trials, the ratings CSV, MOS and its 95 % interval."""

import math

import numpy as np
import pytest

from audiolora.audio import write_audio
from audiolora.errors import DataError
from audiolora.metrics import listening as ls

T_975_DF2 = 4.302652729911275  # Student t, 97.5th percentile, 2 degrees of freedom (tables)


def _folder(path, n):
    for i in range(n):
        write_audio(path / f"c{i}.wav", np.zeros((1, 800), np.float32), 8000)
    return path


def test_mos_interval_matches_the_t_formula():
    mean, low, high = ls.mos([3, 4, 5])
    half = T_975_DF2 * 1.0 / math.sqrt(3)  # sample sd of 3,4,5 is 1
    assert mean == 4.0
    assert low == pytest.approx(4 - half) and high == pytest.approx(4 + half)
    assert ls.mos([4])[0] == 4 and math.isnan(ls.mos([4])[1])


def test_interval_covers_the_true_mean_about_95_percent():
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(2000):
        lo, hi = ls.mos(rng.normal(3.0, 1.0, 12))[1:]
        hits += lo <= 3.0 <= hi
    assert 0.93 < hits / 2000 < 0.97


def test_trials_shuffle_every_clip_reproducibly(tmp_path):
    systems = {"a": _folder(tmp_path / "a", 3), "b": _folder(tmp_path / "b", 3)}
    first = ls.make_trials(systems, seed=1)
    assert sorted((t.system, t.path.name) for t in first) == sorted(
        (s, f"c{i}.wav") for s in "ab" for i in range(3)
    )
    assert [t.path for t in ls.make_trials(systems, seed=1)] == [t.path for t in first]
    orders = {tuple(t.path for t in ls.make_trials(systems, seed=s)) for s in range(10)}
    assert len(orders) > 1
    with pytest.raises(DataError, match="two systems"):
        ls.make_trials({"a": systems["a"]}, 0)


def test_ratings_csv_appends_and_summarizes(tmp_path):
    systems = {"base": _folder(tmp_path / "a", 2), "adapted": _folder(tmp_path / "b", 2)}
    trials = ls.make_trials(systems, seed=3)
    path = tmp_path / "r.csv"
    scores = {"base": 2, "adapted": 4}
    for t in trials:
        ls.append_rating(path, "s1", "me", t, scores[t.system])
    ls.append_rating(path, "s2", "you", trials[0], 5)
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(ls.COLUMNS) and len(lines) == 6
    summary = {s.system: s for s in ls.summarize(ls.read_ratings(path, "s1"))}
    assert summary["base"].mos == 2 and summary["adapted"].mos == 4 and summary["base"].n == 2
    text = ls.format_summary(ls.summarize(ls.read_ratings(path, "s1")))
    assert "MOS 2.00" in text and "MOS 4.00" in text
    first, second = [line.split(":")[0] for line in text.splitlines()[:2]]
    change = "+100 %" if first == "base" else "-50 %"
    assert f"{change} MOS" in text
    for bad in (0, 6, 2.5):
        with pytest.raises(DataError, match="1 to 5"):
            ls.append_rating(path, "s1", "me", trials[0], bad)
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="not a listening-test CSV"):
        ls.append_rating(other, "s", "r", trials[0], 3)
