"""End to end (slow): `audiolora train` on tiny stems writes base vs adapted metrics and a PNG;
`audiolora transcribe-poc` prints the F1 table for base and adapters."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_train_then_poc(run_cli, tiny_dataset, tmp_path):
    code, _, err = run_cli(
        "--quiet",
        "train",
        "configs/transcription/chorales_bass.yaml",
        f"data.root={tiny_dataset}",
        f"run.output_dir={tmp_path}",
        "run.name=bass",
        "transcription.crops_per_track=2",
        "train.max_steps=3",
        "train.batch_size=2",
        "train.eval_every=3",
        "train.checkpoint_every=3",
    )
    assert code == 0, err
    run = tmp_path / "bass"
    metrics = json.loads((run / "metrics.json").read_text())
    text = json.dumps(metrics)
    assert '"base"' in text and '"adapted"' in text and "onset_f1" in text
    assert (run / "f1.png").stat().st_size > 1000
    report = metrics["report"]
    assert {"base", "adapted", "base_tuned", "adapted_tuned"} <= report.keys()
    tuned = json.loads((run / "final" / "thresholds.json").read_text())
    assert tuned["onset_threshold"] == report["adapted_tuned"]["tuned_onset_threshold"]
    adapter = run / "best" if (run / "best").is_dir() else run / "final"
    assert (adapter / "adapter_model.safetensors").is_file()

    out = tmp_path / "poc.json"
    code, stdout, err = run_cli(
        "transcribe-poc", str(tiny_dataset), "--adapters", f"bass={adapter}", "--json-out", str(out)
    )
    assert code == 0, err
    rows = {(r["condition"], r["scope"]) for r in json.loads(out.read_text())["rows"]}
    assert {
        ("base on mix", "all"),
        ("base on stems", "bass"),
        ("adapters on stems", "bass"),
        ("adapters on stems", "all"),
    } <= rows
    assert "adapters on stems" in stdout
