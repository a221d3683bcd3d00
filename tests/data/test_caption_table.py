"""The Dataset tab's logic: table from sidecars + CSV, tags, fill, checks, and the saved CSV the
CLI reads (read_caption_csv / load_captions)."""

import json

import numpy as np
import pytest

from audiolora.audio import write_audio
from audiolora.data import caption_table as dt
from audiolora.data.captions import load_captions, read_caption_csv
from audiolora.errors import DataError


@pytest.fixture
def songs(tmp_path):
    for name in ("a", "sub/b"):
        write_audio(tmp_path / f"{name}.wav", np.zeros((1, 4000), np.float32), 8000)
    (tmp_path / "a.json").write_text(
        json.dumps({"caption": "calm piano", "bpm": 90, "genre": "ambient"})
    )
    return tmp_path


def test_table_reads_sidecars_then_csv(songs):
    rows = dt.load_table(songs)
    assert rows == [
        ["a.wav", "calm piano", "ambient", "90", "", "", ""],
        ["sub/b.wav", "", "", "", "", "", ""],
    ]
    (songs / "captions.csv").write_text("file,caption,keyscale\nsub/b.wav,loud drums,E minor\n")
    assert dt.load_table(songs)[1] == ["sub/b.wav", "loud drums", "", "", "E minor", "", ""]


def test_saved_csv_is_what_the_cli_reads(songs):
    rows = dt.load_table(songs)
    rows[1][1:] = ["loud, fast drums", "rock", "140.5", "A minor", "3/4", "la la la"]
    out = dt.save_table(dt.tag_rows(rows, "sks", "prepend"), songs, songs / "meta" / "c.csv")
    table = read_caption_csv(out)
    b = table[str((songs / "sub/b.wav").resolve())]
    assert (b.caption, b.genre, b.bpm, b.keyscale, b.timesignature, b.lyrics) == (
        "sks, loud, fast drums",
        "rock",
        140.5,
        "A minor",
        "3/4",
        "la la la",
    )
    items = load_captions(songs, csv_path=out, fill_missing=False)
    assert [i.meta.caption for i in items] == ["sks, calm piano", "sks, loud, fast drums"]


def test_tags_do_not_stack_and_replace(songs):
    rows = dt.load_table(songs)
    once = dt.tag_rows(rows, "sks", "append")
    assert once[0][1] == "calm piano, sks" and dt.tag_rows(once, "sks", "append") == once
    assert [r[1] for r in dt.tag_rows(rows, "sks", "replace")] == ["sks", "sks"]


def test_bad_cells_are_one_line_errors_naming_the_file(songs):
    rows = dt.load_table(songs)
    rows[1][3] = "fast"
    with pytest.raises(DataError, match="sub/b.wav: bpm 'fast' is not a number"):
        dt.save_table(rows, songs)
    rows[1][3], rows[1][4] = "", "H major"
    assert dt.check_lines(songs, rows) == [
        "data error: sub/b.wav: field 'keyscale' = 'H major': Value error, must look like 'C major' or 'F# minor'"
    ]
    assert not (songs / "captions.csv").exists()


def test_fill_from_signal_fills_empty_cells(tmp_path):
    sr = 22050
    y = np.zeros(sr * 6, np.float32)
    for t in np.arange(0, 6, 0.5):  # 120 BPM clicks
        y[int(t * sr) : int(t * sr) + 200] = np.hanning(200)
    write_audio(tmp_path / "c.wav", y[None], sr)
    rows = dt.fill_rows(dt.load_table(tmp_path), tmp_path)
    assert float(rows[0][3]) == pytest.approx(120, rel=0.02) and rows[0][4].endswith(
        ("major", "minor")
    )


def test_check_lines_runs_data_check_on_a_stem_dataset(tmp_path):
    track = tmp_path / "train" / "t1"
    for stem in ("bass", "drums"):
        write_audio(track / f"{stem}.wav", np.full((2, 8000), 0.1, np.float32), 8000)
    write_audio(track / "mixture.wav", np.full((2, 8000), 0.5, np.float32), 8000)  # != sum
    lines = dt.check_lines(tmp_path)
    assert any(line.startswith("error: ") and "mixture" in line for line in lines), lines


def test_multiline_lyrics_survive_the_cli_reader(songs):
    rows = dt.load_table(songs)
    rows[1][6] = "line one\nline two"
    out = dt.save_table(rows, songs)
    assert (
        read_caption_csv(out)[str((songs / "sub/b.wav").resolve())].lyrics == "line one\nline two"
    )
