"""End to end through the CLI: render -> train -> eval -> separate -> export (merge, int8) -> separate."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from sep_tiny import SR, save_th, tiny_htdemucs

pytestmark = pytest.mark.slow


def test_train_eval_separate_export(tmp_path, run_cli):
    base = save_th(
        tiny_htdemucs(sources=["drums", "bass", "other", "vocals"]), tmp_path / "base.th"
    )
    data = tmp_path / "th5"
    code, out, err = run_cli(
        "--quiet",
        "data",
        "render",
        "--recipe",
        "techhouse5",
        "--tracks",
        "4",
        "--seconds",
        "4",
        "--samplerate",
        str(SR),
        "--splits",
        "0.5,0.25,0.25",
        "--out",
        str(data),
    )
    assert code == 0, err
    cfg = {
        "run": {"name": "e2e", "output_dir": str(tmp_path / "runs")},
        "model": {"name": str(base)},
        "separation": {
            "source_linkage": {
                "other": "other",
                "kick": "drums",
                "vocals": "vocals",
                "bass": "bass",
                "hihat": "new",
            },
            "loss": "l1+mrstft",
            "source_weights": {"hihat": 2.0},
        },
        "adapter": {"rank": 2, "layer_ranks": {"transformer.*": 3}},
        "data": {
            "root": str(data),
            "sources": ["other", "kick", "vocals", "bass", "hihat"],
            "samplerate": SR,
            "segment": 2.0,
        },
        "train": {
            "max_steps": 2,
            "batch_size": 2,
            "eval_every": 2,
            "checkpoint_every": 2,
            "lr": 1e-3,
        },
    }
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    code, out, err = run_cli("train", str(tmp_path / "cfg.yaml"))
    assert code == 0, err
    run = tmp_path / "runs" / "e2e"
    report = json.loads((run / "metrics.json").read_text())["report"]
    assert list(report["stems"]) == ["other", "kick", "vocals", "bass", "hihat"]
    assert report["stems"]["kick"]["base_row"] == "base drums"
    assert report["stems"]["hihat"]["base_row"] == "silence"
    assert (run / "sdr.png").stat().st_size > 0

    code, out, err = run_cli("eval", str(run))
    assert code == 0, err
    again = json.loads((run / "metrics.json").read_text())["report"]
    assert again["stems"]["kick"]["adapted"] == pytest.approx(
        report["stems"]["kick"]["adapted"], abs=1e-6
    )

    # The held-out script on the same folder: same numbers as `eval`, per-track SDR grouped by
    # the hi-hat's kit from the manifest.
    script = Path(__file__).parents[2] / "scripts" / "eval_heldout.py"
    out_json = tmp_path / "heldout.json"
    done = subprocess.run(
        [sys.executable, str(script), str(run / "final"), str(data), "--base", str(base)]
        + ["--group-by", "kits.hihat", "--out", str(out_json)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    held = json.loads(out_json.read_text())
    assert held["stems"]["kick"]["adapted"] == pytest.approx(again["stems"]["kick"]["adapted"])
    manifest = json.loads((data / "manifest.json").read_text())
    kits = sorted(
        (t["track"], t["params"]["kits"]["hihat"])
        for t in manifest["tracks"]
        if t["split"] == "test"
    )
    per_track = held["per_track"]["hihat"]["adapted"]["mdx"]
    for kit, group in held["groups"]["hihat"].items():
        values = [v for (_, k), v in zip(kits, per_track, strict=True) if str(k) == kit]
        assert group["tracks"] == len(values)
        assert group["sdr_mdx"] == pytest.approx(np.mean(values))

    song = next((data / "test").iterdir()) / "mixture.wav"
    code, out, err = run_cli(
        "separate", str(song), "--adapter", str(run), "--out", str(tmp_path / "sep")
    )
    assert code == 0, err
    assert "real-time factor" in out
    adapted = {s: sf.read(tmp_path / "sep" / "mixture" / f"{s}.wav")[0] for s in ("kick", "hihat")}

    merged = tmp_path / "merged.safetensors"
    code, out, err = run_cli("export", str(run), "--merge", "--out", str(merged))
    assert code == 0, err
    code, out, err = run_cli(
        "separate", str(song), "--model", str(merged), "--out", str(tmp_path / "sep_m")
    )
    assert code == 0, err
    for s, ref in adapted.items():
        got = sf.read(tmp_path / "sep_m" / "mixture" / f"{s}.wav")[0]
        assert np.abs(got - ref).max() < 1e-4, s

    quant = tmp_path / "q.safetensors"
    assert run_cli("export", str(run), "--merge", "--quantize", "int8", "--out", str(quant))[0] == 0
    code, out, err = run_cli(
        "separate", str(song), "--model", str(quant), "--out", str(tmp_path / "sep_q")
    )
    assert code == 0, err
    got = sf.read(tmp_path / "sep_q" / "mixture" / "kick.wav")[0]
    assert np.isfinite(got).all() and got.shape == adapted["kick"].shape


def test_cli_errors_are_one_line(tmp_path, run_cli):
    code, out, err = run_cli("separate", str(tmp_path / "nope.wav"))
    assert code == 1 and "no such audio file" in err and len(err.strip().splitlines()) == 1
    code, out, err = run_cli("eval", str(tmp_path))
    assert code == 1 and "no config.yaml" in err
