"""Note F1 equals mir_eval's and hand-counted values on known note lists."""

from __future__ import annotations

import mir_eval
import numpy as np
import pytest

from audiolora.metrics.notes import mean_scores, note_scores

REF = [(0.0, 0.5, 60), (0.5, 1.0, 62), (1.0, 1.5, 64), (1.5, 2.0, 65)]
# one onset 10 ms late, one offset early, one wrong pitch, one exact, one extra
EST = [
    (0.01, 0.5, 60, 90),
    (0.52, 0.8, 62, 90),
    (1.0, 1.5, 65, 90),
    (1.5, 2.0, 65, 90),
    (2.5, 3.0, 70, 90),
]


def test_counts_by_hand():
    s = note_scores(REF, EST)
    # onset: 3 of 5 estimates match 3 of 4 references
    assert s["onset_precision"] == pytest.approx(3 / 5)
    assert s["onset_recall"] == pytest.approx(3 / 4)
    assert s["onset_f1"] == pytest.approx(2 / 3)
    # onset+offset: the 0.52-0.8 note ends 200 ms early (> 20 % of 0.5 s) -> 2 matches
    assert s["onset_offset_precision"] == pytest.approx(2 / 5)
    assert s["onset_offset_recall"] == pytest.approx(2 / 4)
    # frames on a 10 ms grid: 49 + 28 + 50 correct of 227 estimated, 200 reference
    assert s["frame_precision"] == pytest.approx(127 / 227)
    assert s["frame_recall"] == pytest.approx(127 / 200)
    p, r = 127 / 227, 127 / 200
    assert s["frame_f1"] == pytest.approx(2 * p * r / (p + r))


def test_equals_mir_eval_on_random_lists():
    rng = np.random.default_rng(0)
    onsets = np.sort(rng.uniform(0, 20, 60))
    ref = [(t, t + rng.uniform(0.1, 1.0), int(rng.integers(30, 80))) for t in onsets]
    est = [
        (s + rng.normal(0, 0.04), e + rng.normal(0, 0.1), p + int(rng.random() < 0.2) * 12)
        for s, e, p in ref
        if rng.random() < 0.85
    ]
    est = [n for n in est if n[1] > n[0]]
    s = note_scores(ref, est)
    ri = np.array([n[:2] for n in ref])
    rp = mir_eval.util.midi_to_hz(np.array([n[2] for n in ref], float))
    ei = np.array([n[:2] for n in est])
    ep = mir_eval.util.midi_to_hz(np.array([n[2] for n in est], float))
    p, r, f, _ = mir_eval.transcription.precision_recall_f1_overlap(
        ri, rp, ei, ep, offset_ratio=None
    )
    assert (s["onset_precision"], s["onset_recall"], s["onset_f1"]) == pytest.approx((p, r, f))
    p, r, f, _ = mir_eval.transcription.precision_recall_f1_overlap(ri, rp, ei, ep)
    assert s["onset_offset_f1"] == pytest.approx(f)
    assert 0.3 < s["onset_f1"] < 0.95


def test_empty_lists_and_mean():
    assert note_scores([], [])["onset_f1"] == 1.0
    assert note_scores(REF, [])["frame_f1"] == 0.0
    assert note_scores([], EST)["onset_precision"] == 0.0
    m = mean_scores([note_scores(REF, REF), note_scores(REF, [])])
    assert m["onset_f1"] == pytest.approx(0.5)
