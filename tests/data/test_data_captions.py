"""Caption sidecars and CSV: parsing, clear one-line errors on bad fields, tags, filled-in bpm."""

from __future__ import annotations

import json

import pytest
from stemkit import SR, tone

from audiolora.audio import write_audio
from audiolora.data.captions import (
    apply_tag,
    estimate_bpm,
    load_captions,
    read_caption_csv,
    read_sidecar,
)
from audiolora.errors import DataError

FULL = {
    "caption": "dark rolling tech house",
    "bpm": 124,
    "keyscale": "F# minor",
    "timesignature": "4/4",
    "genre": "tech house",
    "lyrics": "[instrumental]",
    "language": "en",
    "is_instrumental": True,
    "duration": 1.0,
    "custom_tag": "th5",
}


def song(folder, name="a.wav", seconds=1.0, meta=None):
    path = write_audio(folder / name, tone(seconds, 220.0), SR)
    if meta is not None:
        path.with_suffix(".json").write_text(json.dumps(meta) if isinstance(meta, dict) else meta)
    return path


def test_sidecar_with_every_field(tmp_path):
    meta = read_sidecar(song(tmp_path, meta=FULL))
    assert meta.model_dump() == {**FULL, "bpm": 124.0}
    assert read_sidecar(song(tmp_path, "b.wav")) is None


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ({"caption": "x", "bmp": 120}, "unknown field 'bmp' (did you mean 'bpm'?)"),
        ({"caption": "x", "bpm": "fast"}, "field 'bpm' = 'fast'"),
        ({"caption": "x", "bpm": 900}, "between 20 and 400"),
        ({"caption": "x", "keyscale": "H dorian"}, "must look like 'C major'"),
        ({"caption": "x", "timesignature": "four"}, "must look like '4/4'"),
        ({"caption": "x", "duration": -2}, "positive number of seconds"),
        ({"caption": "x", "is_instrumental": "maybe"}, "field 'is_instrumental'"),
        ('{"caption": "x",', "invalid JSON (line 1"),
        ("[1, 2]", "expected a JSON object"),
    ],
)
def test_bad_sidecar_fields_are_one_line_errors(tmp_path, meta, message):
    path = song(tmp_path, meta=meta)
    with pytest.raises(DataError) as err:
        read_sidecar(path)
    assert message in str(err.value) and "a.json" in str(err.value)
    assert "\n" not in err.value.one_line()


def test_csv_rows_parse_and_override_sidecars(tmp_path):
    song(tmp_path, "a.wav", meta={"caption": "from sidecar", "bpm": 100})
    song(tmp_path, "b.wav")
    (tmp_path / "captions.csv").write_text(
        "file,caption,bpm,is_instrumental,keyscale\n"
        'a.wav,"from csv, with comma",,yes,\n'
        "b.wav,second,90,false,A minor\n"
    )
    table = read_caption_csv(tmp_path / "captions.csv")
    assert table[str((tmp_path / "b.wav").resolve())].keyscale == "A minor"
    items = load_captions(
        tmp_path, csv_path=tmp_path / "captions.csv", tag="th5", fill_missing=False
    )
    a, b = items
    assert (
        a.meta.caption == "th5, from csv, with comma"
        and a.meta.bpm == 100.0
        and a.meta.is_instrumental
    )
    assert (
        b.meta.caption == "th5, second" and b.meta.bpm == 90.0 and b.meta.is_instrumental is False
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("caption,bpm\nx,1\n", "no 'filename' column"),
        ("file,bpm\na.wav,fast\n", "line 2: bpm 'fast' is not a number"),
        (
            "file,is_instrumental\na.wav,perhaps\n",
            "line 2: is_instrumental 'perhaps' must be true or false",
        ),
        ("file,caption\na.wav,x,extra\n", "line 2: more cells than header columns"),
        ("file,mood\na.wav,happy\n", "line 2: unknown field 'mood'"),
        ("file,caption\n,x\n", "line 2: empty 'file' cell"),
    ],
)
def test_bad_csv_is_one_line_error(tmp_path, text, message):
    (tmp_path / "c.csv").write_text(text)
    with pytest.raises(DataError, match=message.replace("(", r"\(")):
        read_caption_csv(tmp_path / "c.csv")


def test_tag_modes():
    assert apply_tag("warm pads", "th5", "prepend") == "th5, warm pads"
    assert apply_tag("warm pads", "th5", "append") == "warm pads, th5"
    assert apply_tag("warm pads", "th5", "replace") == "th5"
    assert apply_tag("", "th5", "append") == "th5"
    assert apply_tag("warm pads", None) == "warm pads"


def test_missing_caption_and_stale_csv_rows(tmp_path):
    song(tmp_path, "a.wav")
    with pytest.raises(DataError, match="a.wav: no caption; add a.json"):
        load_captions(tmp_path, fill_missing=False)
    (tmp_path / "c.csv").write_text("file,caption\na.wav,x\ngone.wav,y\n")
    with pytest.raises(DataError, match="gone.wav has no audio file"):
        load_captions(tmp_path, csv_path=tmp_path / "c.csv", fill_missing=False)


def test_duration_and_bpm_filled_in_from_the_audio(tmp_path):
    """bpm estimated on a rendered 124 bpm tech-house loop lands within 3 %."""
    from audiolora.data.render import render_dataset

    render_dataset("techhouse5", tmp_path / "r", 1, seed=0, seconds=8.0, bpm=[124.0, 124.0])
    mixture = next((tmp_path / "r").glob("*/*/mixture.wav"))
    assert abs(estimate_bpm(mixture) - 124.0) / 124.0 < 0.03
    folder = tmp_path / "songs"
    folder.mkdir()
    (folder / "loop.wav").write_bytes(mixture.read_bytes())
    (folder / "loop.json").write_text(json.dumps({"caption": "loop"}))
    (item,) = load_captions(folder)
    assert item.meta.duration == 8.0 and abs(item.meta.bpm - 124.0) < 4
