import json

import pytest

from audiolora.adapters import read_adapter_metadata


@pytest.mark.slow
def test_v2a_run_end_to_end(run_cli, videos, encoders, base_dir, tmp_path):
    out = tmp_path / "run"
    code, stdout, stderr = run_cli(
        "--quiet",
        "v2a",
        "run",
        str(videos),
        "--out",
        str(out),
        "--model",
        str(base_dir),
        "--codec",
        encoders["codec"],
        "--clip-model",
        encoders["clip_model"],
        "--text-model",
        encoders["text_model"],
        "--steps",
        "6",
        "v2a.rank_phases=[[0,2],[3,4]]",
        "v2a.holdout=0.34",
        "v2a.eval_clips=2",
        "v2a.sample_steps=3",
        "train.batch_size=2",
        "train.eval_every=3",
    )
    assert code == 0, stderr
    for row in ("flow-matching loss", "onset_f1", "sync_offset_ms", "log_mel_distance", "frechet"):
        assert row in stdout
    assert (out / "clips.tsv").read_text().count("\n") == 7  # header + 6 clips
    assert max(read_adapter_metadata(out / "phase-1" / "final")["ranks"].values()) == 2
    assert max(read_adapter_metadata(out / "phase-2" / "final")["ranks"].values()) == 4
    report = json.loads((out / "phase-2" / "v2a_report.json").read_text())
    assert report["clips"] == 2 and set(report["loss"]) == {"base", "adapted"}
    for which in ("base", "adapted"):
        assert len(list((out / "phase-2" / "samples" / which).glob("*.wav"))) == 2
    assert not (out / "phase-1" / "v2a_report.json").exists()
