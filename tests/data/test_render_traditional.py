"""The `traditional` recipe and the captions every recipe writes (sidecars + captions.csv)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pretty_midi
import pytest

from audiolora.data.captions import read_caption_csv, read_sidecar
from audiolora.data.render import render_dataset
from audiolora.data.render.chorales import estimate_key
from audiolora.data.render.dataset import CAPTION_COLUMNS
from audiolora.data.render.score import NOTE_NAMES
from audiolora.data.render.synth import Note
from audiolora.data.render.traditional import METERS, PROGRAMS, SCALES, STYLES, TAIKO
from audiolora.errors import ConfigError

STEMS = ["melody", "plucked", "drone", "percussion"]


@pytest.fixture(scope="module")
def trad(tmp_path_factory) -> Path:
    """Six 3-second traditional tracks (one round of the six styles) at 22.05 kHz."""
    out = tmp_path_factory.mktemp("trad") / "trad"
    render_dataset("traditional", out, 6, seed=3, seconds=3.0, samplerate=22050)
    return out


def entries(root: Path) -> list[dict]:
    return json.loads((root / "manifest.json").read_text())["tracks"]


def test_same_seed_same_bytes_other_seed_differs(trad, tmp_path):
    again = tmp_path / "again"
    render_dataset("traditional", again, 6, seed=3, seconds=3.0, samplerate=22050)
    files = sorted(
        p.relative_to(trad) for p in trad.rglob("*") if p.is_file() and p.name != "render_log.json"
    )
    assert Path("captions.csv") in files and len(files) == 2 + 6 * 8
    assert files == sorted(
        p.relative_to(again)
        for p in again.rglob("*")
        if p.is_file() and p.name != "render_log.json"
    )
    for rel in files:
        assert (trad / rel).read_bytes() == (again / rel).read_bytes(), rel
    other = tmp_path / "other"
    render_dataset("traditional", other, 1, seed=4, seconds=3.0, samplerate=22050)
    first = next(other.glob("*/*/mixture.wav")).read_bytes()
    assert all(first != p.read_bytes() for p in trad.glob("*/*/mixture.wav"))


def test_styles_programs_scales_and_meters(trad):
    manifest = json.loads((trad / "manifest.json").read_text())
    assert manifest["stems"] == STEMS
    assert sorted(e["params"]["style"] for e in entries(trad)) == sorted(STYLES)  # one round
    for entry in entries(trad):
        p, folder = entry["params"], trad / entry["split"] / entry["track"]
        style = STYLES[p["style"]]
        assert p["scale"] in style.scales and p["meter"] in style.meters
        assert tuple(p["grouping"]) in METERS[p["meter"]] and p["meter"] != "4/4"
        assert p["programs"]["melody"] in style.melody
        assert p["programs"]["plucked"] in style.plucked
        assert p["programs"]["drone"] in style.drone
        # the MIDI file says which GM programs sound: only the ethnic set, drums from the style
        midi = pretty_midi.PrettyMIDI(str(folder / "notes.mid"))
        pitched = {i.program for i in midi.instruments if not i.is_drum}
        assert pitched <= set(PROGRAMS) and TAIKO not in pitched - {p["programs"].get("taiko")}
        drum_keys = {n.pitch for i in midi.instruments if i.is_drum for n in i.notes}
        assert drum_keys and drum_keys <= set(style.low + style.high + style.timeline)
        # every melodic, ostinato and drone note lies on the drawn scale of the drawn tonic
        steps = set(SCALES[p["scale"]][0])
        notes = json.loads((folder / "notes.json").read_text())["stems"]
        for stem in ("melody", "plucked", "drone"):
            assert notes[stem], stem
            assert {(row[2] - p["root"]) % 12 for row in notes[stem]} <= steps, stem
        drone = {(row[2] - p["root"]) % 12 for row in notes["drone"]}
        assert drone <= {0, 7}  # tonic and fifth


def test_captions_sidecars_and_csv(trad):
    rows = list(csv.DictReader((trad / "captions.csv").read_text().splitlines()))
    assert tuple(rows[0]) == CAPTION_COLUMNS and len(rows) == 6
    table = read_caption_csv(trad / "captions.csv")  # the reader the generation family uses
    for entry in entries(trad):
        p = entry["params"]
        audio = trad / entry["split"] / entry["track"] / "mixture.wav"
        side = read_sidecar(audio)
        row = table[str(audio.resolve())]
        for field in ("caption", "genre", "bpm", "keyscale", "timesignature"):
            assert getattr(row, field) == getattr(side, field), field
        assert side.genre == STYLES[p["style"]].genre and side.timesignature == p["meter"]
        assert side.keyscale == f"{NOTE_NAMES[p['root']]} {SCALES[p['scale']][1]}"
        assert side.bpm == pytest.approx(p["bpm"], abs=0.01) and side.duration == 3.0
        assert side.is_instrumental and p["scale"] in side.caption
        for name in p["instruments"]:  # the drawn instruments are named in the caption
            assert name in side.caption, name


def test_western_recipes_write_captions_too(techhouse, tmp_path):
    rows = list(csv.DictReader((techhouse / "captions.csv").read_text().splitlines()))
    assert len(rows) == 3 and {r["genre"] for r in rows} == {"tech house"}
    assert all((techhouse / r["filename"]).is_file() and r["keyscale"] for r in rows)
    render_dataset("pop4", tmp_path / "pop", 1, seed=0, seconds=1.0, samplerate=22050)
    render_dataset("chorales", tmp_path / "ch", 1, seed=0, seconds=1.0, samplerate=22050)
    for root, genre in ((tmp_path / "pop", "pop"), (tmp_path / "ch", "baroque chorale")):
        (row,) = read_caption_csv(root / "captions.csv").values()
        assert row.genre == genre and row.keyscale and row.timesignature and row.bpm


def test_estimate_key():
    def notes(pitches):
        return [Note(float(k), k + 0.9, p, 80) for k, p in enumerate(pitches)]

    assert estimate_key(notes([60, 62, 64, 65, 67, 69, 71, 72, 67, 64, 60])) == "C major"
    assert estimate_key(notes([57, 59, 60, 62, 64, 65, 68, 69, 64, 60, 57])) == "A minor"
    assert estimate_key([]) is None


def test_bad_style_is_a_one_line_error(tmp_path):
    with pytest.raises(ConfigError, match="unknown style 'jazz'; --set styles"):
        render_dataset("traditional", tmp_path / "x", 1, seconds=1.0, styles=["jazz"])


def test_render_cli_traditional(run_cli, tmp_path):
    out = tmp_path / "cli"
    code, _, err = run_cli(
        "--quiet",
        "data",
        "render",
        "--recipe",
        "traditional",
        "--tracks",
        "2",
        "--seconds",
        "1",
        "--samplerate",
        "22050",
        "--seed",
        "5",
        "--out",
        str(out),
        "--set",
        "styles=[japanese]",
        "--set",
        "bpm=100",
    )
    assert code == 0, err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["recipe"] == "traditional" and manifest["samplerate"] == 22050
    assert {t["params"]["style"] for t in manifest["tracks"]} == {"japanese"}
    assert {t["params"]["bpm"] for t in manifest["tracks"]} == {100.0}
    assert len(read_caption_csv(out / "captions.csv")) == 2
