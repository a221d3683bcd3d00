"""StemDataset: shapes, grid coverage, crops from (seed, epoch, index) only, normalisation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from stemkit import SR, TECHHOUSE, make_track, tone
from torch.utils.data import default_collate

from audiolora.audio import read_audio, write_audio
from audiolora.config import load_config
from audiolora.data.stems import NormalizedStems, StemDataset, stem_datasets
from audiolora.errors import DataError


def test_items_are_stems_in_source_order(techhouse):
    order = ["kick", "bass"]
    ds = StemDataset(techhouse / "train", order, segment=1.0, samplerate=44100)
    item = ds[0]
    assert item.dtype == torch.float32 and item.shape == (2, 2, 44100)
    folder = ds.tracks[0].path
    for s, name in enumerate(order):
        ref, _ = read_audio(folder / f"{name}.wav")
        np.testing.assert_array_equal(item[s].numpy(), ref[:, :44100])


def test_deterministic_grid_covers_every_track_to_the_end(tmp_path):
    make_track(tmp_path / "a", seconds=2.5)
    make_track(tmp_path / "b", seconds=1.0)
    ds = StemDataset(tmp_path, ["a", "b", "c"], segment=1.0, stride=0.75, samplerate=SR)
    assert [t.name for t in ds.tracks] == ["a", "b"]
    counts = [sum(1 for t, _ in ds.examples if t == k) for k in range(2)]
    assert counts == [math.ceil((2.5 - 1.0) / 0.75) + 1, 1]
    starts = [s for t, s in ds.examples if t == 0]
    assert starts[-1] + SR >= int(2.5 * SR)  # the last segment reaches the end
    last = ds[counts[0] - 1]
    tail = int(2.5 * SR) - starts[-1]
    assert last.shape[-1] == SR and torch.all(last[..., tail:] == 0)  # zero-padded past the end
    assert torch.equal(ds[1], ds[1])


def test_random_crops_depend_on_seed_epoch_index_only(techhouse):
    def make(seed):
        return StemDataset(
            techhouse / "train",
            TECHHOUSE,
            segment=0.5,
            samplerate=44100,
            random_crop=True,
            seed=seed,
        )

    a, b = make(0), make(0)
    torch.manual_seed(123)
    np.random.seed(123)
    first = [a.start_frame(i) for i in range(len(a))]
    torch.manual_seed(999)  # global RNG state must not matter
    np.random.seed(999)
    assert [b.start_frame(i) for i in reversed(range(len(b)))][::-1] == first
    assert len(set(first)) > 1
    a.set_epoch(1)
    assert [a.start_frame(i) for i in range(len(a))] != first
    b.set_epoch(1)
    assert torch.equal(a[3], b[3])  # resuming at epoch 1, index 3 gives the same item
    assert [make(1).start_frame(i) for i in range(len(a))] != first
    length = a.tracks[0].frames
    assert all(0 <= s <= length - a.segment_frames for s in first)


def test_normalize_uses_track_mixture_stats(techhouse):
    ds = StemDataset(techhouse / "train", TECHHOUSE, segment=1.0, samplerate=44100, normalize=True)
    item = ds[0]
    assert isinstance(item, NormalizedStems)
    mix, _ = read_audio(ds.tracks[0].path / "mixture.wav")
    mono = mix.mean(axis=0, dtype=np.float64)
    assert item.mean.item() == pytest.approx(mono.mean(), abs=1e-7)
    assert item.std.item() == pytest.approx(mono.std(), rel=1e-5)
    raw = StemDataset(techhouse / "train", TECHHOUSE, segment=1.0, samplerate=44100)[0]
    torch.testing.assert_close(item.stems * item.std + item.mean, raw, atol=1e-5, rtol=1e-5)
    batch = default_collate([ds[0], ds[1]])
    assert batch.stems.shape == (2, 5, 2, 44100) and batch.mean.shape == (2,)


def test_resamples_and_converts_channels_and_needs_no_mixture(tmp_path):
    stems = make_track(tmp_path / "t", seconds=1.0, sr=SR, mixture=False)
    ds = StemDataset(tmp_path, ["a", "b"], segment=0.5, samplerate=8000, channels=1)
    item = ds[1]
    assert item.shape == (2, 1, 4000) and ds.tracks[0].frames == 8000
    expected = stems["a"][0, 8000:16000:2]  # a 220 Hz tone resampled to 8 kHz keeps its shape
    np.testing.assert_allclose(item[0, 0, 200:-200].numpy(), expected[200:-200], atol=2e-3)
    norm = StemDataset(tmp_path, ["a", "b", "c"], segment=0.5, samplerate=SR, normalize=True)
    total = sum(stems.values()).mean(axis=0)
    assert norm[0].std.item() == pytest.approx(total.std(), rel=1e-4)


def test_bad_roots_are_one_line_errors(tmp_path, techhouse):
    with pytest.raises(DataError, match="is a dataset root; pass one split folder"):
        StemDataset(techhouse, TECHHOUSE, segment=1.0, samplerate=SR)
    with pytest.raises(DataError, match="no such dataset folder"):
        StemDataset(tmp_path / "nope", ["a"], segment=1.0, samplerate=SR)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no track folders with a, b stems"):
        StemDataset(tmp_path / "empty", ["a", "b"], segment=1.0, samplerate=SR)
    write_audio(tmp_path / "half" / "t1" / "a.wav", tone(0.5, 220.0), SR)
    with pytest.raises(DataError, match=r"t1: missing stem 'b' \(b.wav\)"):
        StemDataset(tmp_path / "half", ["a", "b"], segment=1.0, samplerate=SR)


def test_stem_datasets_from_config_checks_first(techhouse, tmp_path, capsys):
    cfg = load_config(
        None, [f"data.root={techhouse}", "data.sources=[kick,hihat]", "data.segment=1.0"]
    )
    train, valid = stem_datasets(cfg.data, seed=3)
    assert train.random_crop and not valid.random_crop and train.normalize
    assert len(valid) == 3  # one 3-second valid track, 1-second grid
    bad = tmp_path / "bad"
    make_track(bad / "train" / "t", sources=("kick", "hihat"), sr=22050)
    cfg = load_config(None, [f"data.root={bad}", "data.sources=[kick,hihat]"])
    with pytest.raises(DataError, match="problem"):
        stem_datasets(cfg.data)
    assert "kick.wav: 22050 Hz, expected 44100 Hz" in capsys.readouterr().err
