"""Captioned test clips for the generation tests (synthetic tones, captions.csv, split folders)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from audiolora.audio import write_audio

SR = 16000


def tone(freq: float, seconds: float, sr: int = SR, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(seed)
    x = 0.3 * np.sin(2 * np.pi * freq * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t))
    x = x + 0.01 * rng.standard_normal(t.shape)
    return np.stack([x, x]).astype(np.float32)


def make_clips(root: Path, n_train: int = 3, n_valid: int = 1, n_test: int = 1, seconds=1.2):
    """Captioned clips in train/valid/test with a captions.csv at the root; returns the root."""
    rows = ["filename,caption,genre,bpm,keyscale,timesignature,lyrics,language"]
    k = 0
    for split, n in (("train", n_train), ("valid", n_valid), ("test", n_test)):
        for i in range(n):
            rel = f"{split}/clip{i}.wav"
            (root / split).mkdir(parents=True, exist_ok=True)
            write_audio(root / rel, tone(220 * (1 + 0.25 * k), seconds, seed=k), SR)
            rows.append(f"{rel},a koto melody number {k},folk,90,D minor,4/4,,en")
            k += 1
    (root / "captions.csv").write_text("\n".join(rows) + "\n")
    return root


def sidecar(path: Path, **fields) -> None:
    path.with_suffix(".json").write_text(json.dumps(fields))


def family_for(config: str, model, root, tmp_path, *overrides):
    """(config, family) of `config` on `model` and the clips under `root`, 0.5 s windows."""
    from audiolora.config import load_config
    from audiolora.families.base import get_family

    cfg = load_config(
        config,
        [
            f"model.name={model}",
            f"data.root={root}",
            f"run.output_dir={tmp_path / 'runs'}",
            "generation.window_seconds=0.5",
            *overrides,
        ],
    )
    return cfg, get_family(cfg)


def digest(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder`, by relative path (byte-identical caches)."""
    import hashlib

    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def trained_adapter(dit_class, location: Path, kind: str, folder: Path, variant: str) -> Path:
    """A LoRA adapter on every preset module of `location`'s DiT with nonzero B (as after
    training), saved to `folder`."""
    import torch

    from audiolora.adapters import AdapterSpec, attach_adapter, save_adapter
    from audiolora.families.generation.targets import preset_targets

    model = dit_class.from_pretrained(location, subfolder="transformer")
    targets = preset_targets("both+ffn+time+output", kind=kind)
    attach_adapter(model, AdapterSpec(rank=4, alpha=8, targets=targets))
    torch.manual_seed(3)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    save_adapter(model, folder, {"family": "generation", "variant": variant})
    return folder


def train_and_report(config: str, model, tmp_path: Path, name: str) -> tuple[Path, dict]:
    """`audiolora train` end to end on fresh clips (4 steps, a 2-clip report); asserts the report's
    base-vs-adapted table and samples; returns (run folder, the adapter's metadata)."""
    from audiolora.cli import main

    root = make_clips(tmp_path / "d", n_train=3, n_valid=1, n_test=2)
    code = main(
        [
            "--quiet",
            "train",
            config,
            f"model.name={model}",
            f"data.root={root}",
            f"run.output_dir={tmp_path / 'runs'}",
            "generation.window_seconds=0.5",
            "generation.eval_clips=2",
            "generation.steps=3",
            "train.max_steps=4",
            "train.eval_every=2",
            "train.checkpoint_every=2",
            "--run-name",
            name,
        ]
    )
    assert code == 0
    run = tmp_path / "runs" / name
    report = json.loads((run / "metrics.json").read_text())["report"]
    assert set(report) >= {"generation", "adapter_effect", "eval_clips", "eval_seconds", "samples"}
    gen = report["generation"]
    assert set(gen) >= {"afd", "log_mel", "frechet"}
    assert all(set(v) == {"base", "adapted", "change_pct"} for v in gen.values())
    assert (run / "samples" / "final" / "adapted" / "00.wav").is_file()
    return run, json.loads((run / "final" / "audiolora.json").read_text())["metadata"]
