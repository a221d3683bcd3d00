"""`transcribe-poc --simulated-sdr`: the "separated" stems are the true stems with the others mixed
in at a chosen SDR, to measure how good a separator separate-then-transcribe needs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from audiolora.families.transcription.poc import simulated_separation
from audiolora.metrics.sdr import sdr_mdx


@pytest.mark.parametrize("sdr_db", [-3.0, 0.0, 6.0, 20.0])
def test_simulated_stems_have_the_asked_sdr(sdr_db):
    rng = np.random.default_rng(0)
    stems = {
        name: rng.normal(0, scale, 4000) for name, scale in (("a", 1.0), ("b", 0.1), ("c", 3.0))
    }
    out = simulated_separation(stems, sdr_db)
    for name, stem in stems.items():
        assert sdr_mdx(stem[None], out[name][None]) == pytest.approx(sdr_db, abs=1e-3)
        # what was added is the other stems, nothing else
        rest = sum(s for n, s in stems.items() if n != name)
        added = out[name] - stem
        gain = float(np.dot(added, rest) / np.dot(rest, rest))
        np.testing.assert_allclose(added, gain * rest, atol=1e-4)


def test_a_stem_alone_or_silent_comes_back_unchanged():
    alone = simulated_separation({"bass": np.ones(10)}, 0.0)
    np.testing.assert_array_equal(alone["bass"], np.ones(10))
    silent = simulated_separation({"bass": np.zeros(10), "other": np.ones(10)}, 0.0)
    np.testing.assert_array_equal(silent["bass"], np.zeros(10))


def test_poc_rows_follow_the_simulated_sdr(run_cli, tiny_dataset, tmp_path):
    rows = {}
    for sdr in ("120", "0"):
        out = tmp_path / f"poc{sdr}.json"
        code, stdout, err = run_cli(
            "transcribe-poc", str(tiny_dataset), "--simulated-sdr", sdr, "--json-out", str(out)
        )
        assert code == 0, err
        assert f"others at {sdr} dB SDR" in stdout
        results = json.loads(out.read_text())
        assert results["simulated_sdr"] == float(sdr)
        rows[sdr] = {(r["condition"], r["scope"]): r["scores"] for r in results["rows"]}
    # at 120 dB the simulated separator is the identity: its rows equal the true stems' rows
    for scope in ("bass", "other", "all"):
        assert rows["120"][("base on separated", scope)] == pytest.approx(
            rows["120"][("base on stems", scope)], abs=1e-9
        )
    # at 0 dB each stem holds as much of the others as of itself: the bass stem gains notes
    # of the piano, so its precision drops
    assert (
        rows["0"][("base on separated", "bass")]["onset_precision"]
        < rows["0"][("base on stems", "bass")]["onset_precision"]
    )


def test_simulated_sdr_and_a_separation_model_exclude_each_other(run_cli, tiny_dataset):
    code, _, err = run_cli(
        "transcribe-poc", str(tiny_dataset), "--simulated-sdr", "10", "--separation-model", "x"
    )
    assert code != 0
    assert "--simulated-sdr replaces --separation-model" in err
    assert "Traceback" not in err
