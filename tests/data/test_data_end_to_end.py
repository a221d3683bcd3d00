"""End to end on the command line: render -> check -> split -> dataset -> augmented batch."""

from __future__ import annotations

import json

import pytest
import torch
from torch.utils.data import DataLoader

from audiolora.data.augment import StemAugment
from audiolora.data.stems import StemDataset


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["pop4", "techhouse5", "chorales"])
def test_render_check_split_load(run_cli, tmp_path, recipe):
    out, cut = tmp_path / "set", tmp_path / "cut"
    code, _, err = run_cli(
        "--quiet",
        "data",
        "render",
        "--recipe",
        recipe,
        "--tracks",
        "3",
        "--out",
        str(out),
        "--seconds",
        "12",
    )
    assert code == 0, err
    stems = json.loads((out / "manifest.json").read_text())["stems"]
    code, stdout, _ = run_cli("data", "check", str(out))
    assert code == 0 and "OK: 3 tracks checked" in stdout
    code, _, err = run_cli(
        "--quiet", "data", "split", str(out), str(cut), "--seconds", "5", "--min-seconds", "2"
    )
    assert code == 0, err
    assert len([p for p in cut.glob("*/*") if p.is_dir()]) == 9  # 5 + 5 + 2 s per track
    code, stdout, _ = run_cli("data", "check", str(cut), "--sources", ",".join(stems))
    assert code == 0, stdout
    ds = StemDataset(
        cut / "train", stems, segment=2.0, samplerate=44100, random_crop=True, normalize=True
    )
    batch = next(iter(DataLoader(ds, batch_size=3, shuffle=False)))
    mixed = StemAugment()(batch.stems, torch.Generator().manual_seed(0))
    assert mixed.shape == (3, len(stems), 2, 88200) and torch.isfinite(mixed).all()
