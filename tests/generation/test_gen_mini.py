"""The bundled `gen-mini` base: loads by name, generates the asked length, runs the demo config."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from audiolora.families.generation.bases import BUNDLED, load_pipeline

REPO = Path(__file__).resolve().parents[2]
DEMO_CONFIG = REPO / "configs" / "generation" / "traditional_lora.yaml"


def test_gen_mini_is_small_and_safetensors_only():
    folder = BUNDLED["gen-mini"]
    files = [p for p in folder.rglob("*") if p.is_file()]
    weights = [p for p in files if p.suffix in (".safetensors", ".bin", ".pt", ".ckpt")]
    assert weights and all(p.suffix == ".safetensors" for p in weights)
    assert sum(p.stat().st_size for p in files) < 50e6
    record = json.loads((folder / "training.json").read_text())
    assert not record.get("partial") and record["dit"]["steps"] > 0


def test_gen_mini_loads_by_name_and_generates_the_asked_length():
    from diffusers import AceStepPipeline

    from audiolora.families.generation.inference import generate, run_pipeline

    pipe = load_pipeline("gen-mini")
    assert isinstance(pipe, AceStepPipeline)
    sr, lps = pipe.sample_rate, pipe.latents_per_second
    audio = run_pipeline(pipe, ["a pop song on piano"], duration=1.0, seed=3, steps=2)
    hop = round(sr / lps)
    assert audio.shape == (1, pipe.vae.config.audio_channels, math.ceil(1.0 * lps) * hop)
    clip, rate = generate("gen-mini", "a tech house loop", duration=0.75, seed=3, steps=2)
    assert rate == sr and clip.shape == (pipe.vae.config.audio_channels, int(0.75 * sr))
    assert np.isfinite(clip).all() and float(np.sqrt(np.mean(clip**2))) > 1e-3


def _render(recipe: str, out: Path, tracks: int, splits: str) -> None:
    from audiolora.data.render.dataset import render_dataset

    shares = tuple(float(s) for s in splits.split(","))
    render_dataset(recipe, out, tracks, seed=1, splits=shares, samplerate=16000, seconds=4.0)


@pytest.mark.slow
def test_demo_config_on_a_tiny_set_reports_the_table_and_samples(tmp_path):
    from audiolora.cli import main

    trad = tmp_path / "traditional"
    _render("traditional", trad, 4, "0.5,0.25,0.25")
    _render("pop4", tmp_path / "pop4", 2, "0.5,0.0,0.5")
    script = REPO / "scripts" / "demo_generate.py"
    subprocess.run(
        [
            sys.executable,
            str(script),
            "style",
            "--traditional",
            str(trad),
            "--western",
            str(tmp_path / "pop4"),
            "--through-codec",
            "gen-mini",
        ],
        check=True,
    )

    def train(name: str) -> Path:
        code = main(
            [
                "--quiet",
                "train",
                str(DEMO_CONFIG),
                f"data.root={trad}",
                f"run.output_dir={tmp_path / 'runs'}",
                "generation.steps=2",
                "generation.eval_clips=2",
                "train.max_steps=2",
                "train.eval_every=2",
                "train.checkpoint_every=2",
                "--run-name",
                name,
            ]
        )
        assert code == 0
        return tmp_path / "runs" / name

    run = train("demo")  # builds the latent cache first
    # The same run over the finished cache starts from the same adapter init: the cache build
    # (which loads encoders and draws random numbers) leaves the run's random streams untouched.
    again = train("demo-again")
    weights = "final/adapter_model.safetensors"
    assert (run / weights).read_bytes() == (again / weights).read_bytes()
    report = json.loads((run / "metrics.json").read_text())["report"]
    table = report["generation"]
    assert set(table) == {"afd", "log_mel", "frechet", "style_accuracy"}
    assert all(set(row) == {"base", "adapted", "change_pct"} for row in table.values())
    assert all(0.0 <= table["style_accuracy"][k] <= 1.0 for k in ("base", "adapted"))
    for system in ("base", "adapted"):
        for name in ("00", "01"):
            assert (run / "samples" / "final" / system / f"{name}.wav").is_file()
            assert (run / "samples" / "final" / system / f"{name}.png").is_file()
    printed = subprocess.run(
        [sys.executable, str(script), "table", str(tmp_path / "runs")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "style_accuracy" in printed and "seed 001" in printed


@pytest.mark.slow
def test_a_few_lora_steps_on_gen_mini_change_its_output_and_reload_exactly(tmp_path):
    """Three LoRA steps through the CLI on captioned clips; the saved adapter changes generation
    and, loaded again, gives the same audio as the trained model's own run."""
    from genkit import make_clips

    from audiolora.cli import main
    from audiolora.families.generation.inference import generate

    root = make_clips(tmp_path / "data", seconds=4.2)
    code = main(
        [
            "--quiet",
            "train",
            str(DEMO_CONFIG),
            f"data.root={root}",
            f"run.output_dir={tmp_path / 'runs'}",
            "train.max_steps=3",
            "train.batch_size=2",
            "train.lr=1e-2",
            "train.eval_every=3",
            "train.checkpoint_every=3",
            "generation.steps=2",
            "generation.eval_clips=2",
            "--run-name",
            "lora",
        ]
    )
    assert code == 0
    adapter = tmp_path / "runs" / "lora" / "final"
    kwargs = dict(duration=1.0, seed=5, steps=3)
    base, _ = generate("gen-mini", "a folk tune", **kwargs)
    once, _ = generate("gen-mini", "a folk tune", adapters=[(str(adapter), 1.0)], **kwargs)
    again, _ = generate("gen-mini", "a folk tune", adapters=[(str(adapter), 1.0)], **kwargs)
    assert np.array_equal(once, again)
    assert float(np.abs(once - base).mean()) > 1e-3
