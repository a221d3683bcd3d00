"""`audiolora data split`: stems cut at the same frames, short tails dropped, notes and sidecars cut."""

from __future__ import annotations

import json

import numpy as np
import pytest
from stemkit import SR, TECHHOUSE, make_track, tone

from audiolora.audio import audio_info, read_audio, write_audio
from audiolora.data.split import segment_bounds, split_dataset
from audiolora.errors import DataError


def test_segment_bounds_drop_short_tails():
    assert segment_bounds(25 * SR, SR, 10, 6) == [(0, 10 * SR), (10 * SR, 20 * SR)]
    assert segment_bounds(25 * SR, SR, 10, 5) == [
        (0, 10 * SR),
        (10 * SR, 20 * SR),
        (20 * SR, 25 * SR),
    ]
    assert segment_bounds(3 * SR, SR, 10, 5) == []


def test_split_keeps_stems_aligned_and_cuts_notes(techhouse, tmp_path):
    out = tmp_path / "cut"
    written = split_dataset(techhouse, out, seconds=1.0, min_seconds=0.5)
    assert len(written) == 9  # 3 tracks x 3 one-second segments, in their splits
    for split in ("train", "valid", "test"):
        assert len(list((out / split).iterdir())) == 3
    source = next((techhouse / "valid").iterdir())
    second = out / "valid" / f"{source.name}_001"
    mix = np.zeros((2, 44100), np.float32)
    for stem in TECHHOUSE:
        whole, _ = read_audio(source / f"{stem}.wav")
        part, sr = read_audio(second / f"{stem}.wav")
        np.testing.assert_array_equal(part, whole[:, 44100:88200])  # same frames for every stem
        mix += part
    np.testing.assert_array_equal(mix, read_audio(second / "mixture.wav")[0])
    caption = json.loads((second / "mixture.json").read_text())
    assert caption["duration"] == 1.0 and caption["genre"] == "tech house"
    notes = json.loads((source / "notes.json").read_text())["stems"]["kick"]
    cut = json.loads((second / "notes.json").read_text())["stems"]["kick"]
    expected = [round(on - 1.0, 6) for on, *_ in notes if 1.0 <= on < 2.0]
    assert [row[0] for row in cut] == expected and all(0 <= r[0] < r[1] <= 1.0 for r in cut)


def test_split_plain_files_with_sidecars_and_subtype(tmp_path):
    src = tmp_path / "songs"
    write_audio(src / "song.flac", tone(2.6, 330.0), SR, subtype="PCM_16")
    (src / "song.json").write_text(json.dumps({"caption": "a tone", "duration": 2.6}))
    write_audio(src / "tiny.wav", tone(0.3, 330.0), SR)
    written = split_dataset(src, tmp_path / "out", seconds=1.0, min_seconds=0.5)
    assert [p.name for p in written] == ["song_000.flac", "song_001.flac", "song_002.flac"]
    info = audio_info(written[2])
    assert info.subtype == "PCM_16" and info.frames == int(0.6 * SR)
    meta = json.loads((tmp_path / "out" / "song_002.json").read_text())
    assert meta == {"caption": "a tone", "duration": 0.6}


def test_split_errors(tmp_path):
    make_track(tmp_path / "src" / "t")
    write_audio(tmp_path / "src" / "t" / "b.wav", tone(1.0, 200.0, sr=8000), 8000)
    with pytest.raises(DataError, match=r"different sample rates \[8000, 16000\]"):
        split_dataset(tmp_path / "src", tmp_path / "out", seconds=0.5, min_seconds=0.1)
    with pytest.raises(DataError, match="output must be outside the input folder"):
        split_dataset(tmp_path / "src", tmp_path / "src" / "inner", seconds=0.5)
    with pytest.raises(DataError, match="no such folder"):
        split_dataset(tmp_path / "nope", tmp_path / "out2")


def test_split_cli(run_cli, tmp_path):
    make_track(tmp_path / "src" / "t", seconds=2.2)
    code, out, err = run_cli(
        "data",
        "split",
        str(tmp_path / "src"),
        str(tmp_path / "out"),
        "--seconds",
        "1",
        "--min-seconds",
        "0.5",
    )
    assert code == 0, err
    assert "wrote 2 segments" in out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["t_000", "t_001"]
