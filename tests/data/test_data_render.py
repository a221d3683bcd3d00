"""The FluidSynth renderer: layout, determinism, sum == mixture, note timing, split by piece."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
from stemkit import TECHHOUSE

from audiolora.audio import read_audio
from audiolora.data.captions import read_sidecar
from audiolora.data.render import assign_splits, find_soundfont, render_dataset
from audiolora.data.render.chorales import work_id
from audiolora.data.render.dataset import get_recipe, remove_dc
from audiolora.data.render.score import resolve_overlaps
from audiolora.data.render.synth import Note, render_parts
from audiolora.errors import ConfigError, DataError


def tracks_of(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("*/*") if p.is_dir())


def rise_db(energy: np.ndarray, onset: int, window: int) -> float:
    """dB of the energy in the `window` frames from `onset` over the `window` frames before it."""
    before = energy[max(onset - window, 0) : onset].mean() if onset > 0 else 0.0
    after = energy[onset : onset + window].mean()
    return float(10 * np.log10((after + 1e-20) / (before + 1e-20)))


def test_layout_manifest_and_notes(techhouse):
    manifest = json.loads((techhouse / "manifest.json").read_text())
    assert manifest["recipe"] == "techhouse5" and manifest["seed"] == 7
    assert manifest["stems"] == TECHHOUSE
    assert len(manifest["soundfont"]["sha256"]) == 64 and manifest["params"]["seconds"] == 3.0
    assert {t["split"] for t in manifest["tracks"]} == {"train", "valid", "test"}
    for entry in manifest["tracks"]:
        folder = techhouse / entry["split"] / entry["track"]
        names = sorted(p.name for p in folder.iterdir())
        assert names == sorted(
            [f"{s}.wav" for s in TECHHOUSE]
            + ["mixture.wav", "mixture.json", "notes.json", "notes.mid"]
        )
        caption = read_sidecar(folder / "mixture.wav")
        assert (
            caption.bpm == pytest.approx(entry["params"]["bpm"], abs=0.01)
            and caption.duration == 3.0
        )
        assert caption.genre == "tech house" and caption.keyscale.endswith("minor")
        notes = json.loads((folder / "notes.json").read_text())
        assert notes["samplerate"] == 44100 and list(notes["stems"]) == TECHHOUSE
        assert all(len(rows) > 0 for rows in notes["stems"].values())
        for rows in notes["stems"].values():
            for onset, offset, pitch, velocity in rows:
                assert 0 <= onset < offset <= 3.0 and 0 <= pitch <= 127 and 1 <= velocity <= 127
        assert 36 in {r[2] for r in notes["stems"]["kick"]}  # GM percussion key numbers
        midi = pretty_midi.PrettyMIDI(str(folder / "notes.mid"))
        by_name = {inst.name: inst for inst in midi.instruments}
        assert {"kick", "hihat", "vocals", "bass", "other:pad", "other:clap"} == set(by_name)
        assert by_name["kick"].is_drum and not by_name["bass"].is_drum
        assert len(by_name["kick"].notes) == len(notes["stems"]["kick"])


def test_manifest_helpers_list_a_split_in_dataset_order_and_read_nested_params(techhouse, tmp_path):
    from audiolora.data.layout import list_tracks
    from audiolora.data.render.manifest import read_manifest, split_tracks, track_param

    manifest = read_manifest(techhouse)
    for split in ("train", "valid", "test"):
        names = [t["track"] for t in split_tracks(manifest, split)]
        assert names == [p.name for p in list_tracks(techhouse / split, TECHHOUSE)]
    first = split_tracks(manifest, "test")[0]
    assert track_param(first, "kits.hihat") == first["params"]["kits"]["hihat"]
    with pytest.raises(DataError, match="no parameter 'kits.snare'"):
        track_param(first, "kits.snare")
    with pytest.raises(DataError, match="audiolora data render"):
        read_manifest(tmp_path)


def test_stems_sum_exactly_to_a_mixture_peaking_at_minus_1_dbfs(techhouse):
    for folder in tracks_of(techhouse):
        mixture, sr = read_audio(folder / "mixture.wav")
        assert sr == 44100 and mixture.shape == (2, 3 * 44100)
        total = np.zeros_like(mixture)
        for stem in TECHHOUSE:  # float32 WAV, summed in stem order: bit-exact
            total += read_audio(folder / f"{stem}.wav")[0]
        np.testing.assert_array_equal(total, mixture)
        assert 20 * np.log10(np.abs(mixture).max()) == pytest.approx(-1.0, abs=0.01)


def test_stems_have_no_dc_offset(techhouse):
    # a DC offset in one stem shifts the per-track mean that normalisation removes from every stem
    for folder in tracks_of(techhouse):
        for stem in TECHHOUSE:
            audio = read_audio(folder / f"{stem}.wav")[0]
            rms = float(np.sqrt(np.mean(audio**2)))
            assert abs(float(audio.mean())) <= 0.01 * rms + 1e-6, (folder.name, stem)


def test_dc_blocker_removes_offset_and_keeps_tone():
    sr = 22050
    t = np.arange(sr) / sr
    tone = np.sin(2 * np.pi * 220 * t).astype(np.float32)
    out = remove_dc(np.stack([tone + 0.3, tone - 0.2]), sr)
    assert np.abs(out[:, sr // 2 :].mean(axis=1)).max() < 1e-3
    rms = float(np.sqrt(np.mean(out[0, sr // 2 :] ** 2)))
    assert rms == pytest.approx(np.sqrt(0.5), rel=0.01)  # a 220 Hz tone passes unchanged in level


def test_same_seed_same_bytes_other_seed_differs(techhouse, tmp_path):
    again = tmp_path / "again"
    render_dataset("techhouse5", again, 3, seed=7, seconds=3.0)
    files = sorted(p.relative_to(techhouse) for p in techhouse.rglob("*") if p.is_file())
    files.remove(Path("render_log.json"))  # wall-clock speed: the only file allowed to differ
    assert files == sorted(
        p.relative_to(again)
        for p in again.rglob("*")
        if p.is_file() and p.name != "render_log.json"
    )
    for rel in files:
        assert (techhouse / rel).read_bytes() == (again / rel).read_bytes(), rel
    other = tmp_path / "other"
    render_dataset("techhouse5", other, 1, seed=8, seconds=3.0)
    first = next(other.glob("*/*/mixture.wav")).read_bytes()
    assert all(first != p.read_bytes() for p in techhouse.glob("*/*/mixture.wav"))


def note_contributions_start_on_time(
    folder: Path, recipe: str, index: int, seed: int, params: dict
):
    """Each note's own sound (stem rendered with it minus stem rendered without it: FluidSynth mixes
    voices additively) is silent before the note start and rises within 10 ms of it. Also checks
    that notes.json is the score that was rendered and the stem file is that render."""
    module = get_recipe(recipe)
    full_params = {**module.DEFAULTS, **params}
    piece = module.pieces(index + 1, seed, full_params)[index]
    score = module.compose(piece, index, seed, full_params)
    notes = json.loads((folder / "notes.json").read_text())
    assert notes["stems"] == score.notes()
    gain = next(
        t["gain"]
        for t in json.loads((folder.parents[1] / "manifest.json").read_text())["tracks"]
        if t["track"] == folder.name
    )
    sf2, sr = find_soundfont(), notes["samplerate"]
    window = int(0.010 * sr)
    checked = 0
    for stem, parts in score.stems.items():
        full = remove_dc(render_parts(parts, score.seconds, sf2, sr), sr)
        np.testing.assert_array_equal(
            full * np.float32(gain), read_audio(folder / f"{stem}.wav")[0]
        )
        for p, part in enumerate(parts):
            for k, note in enumerate(part.notes):
                without = [
                    replace(q, notes=q.notes[:k] + q.notes[k + 1 :]) if i == p else q
                    for i, q in enumerate(parts)
                ]
                # the DC blocker is causal and linear: the note's own sound stays silent before it
                own = full.astype(np.float64) - remove_dc(
                    render_parts(without, score.seconds, sf2, sr), sr
                )
                energy = (own**2).sum(axis=0)
                onset = int(round(note.onset * sr))
                peak = energy.max()
                assert peak > 0, (stem, note)
                assert energy[: max(onset - 64, 0)].max(initial=0.0) <= 1e-6 * peak, (stem, note)
                assert rise_db(energy, onset, window) >= 20.0, (stem, note)
                checked += 1
    return checked


def test_each_note_onset_shows_in_its_stem_within_10_ms(techhouse, tmp_path):
    folder = next((techhouse / "train").iterdir())
    index = int(folder.name.split("_")[0])
    assert note_contributions_start_on_time(folder, "techhouse5", index, 7, {"seconds": 3.0}) > 30
    render_dataset("chorales", tmp_path / "ch", 1, seed=2, seconds=2.0)
    folder = next((tmp_path / "ch").glob("*/0000_*"))
    assert note_contributions_start_on_time(folder, "chorales", 0, 2, {"seconds": 2.0}) > 8
    render_dataset("pop4", tmp_path / "pop", 1, seed=4, seconds=2.0)
    folder = next((tmp_path / "pop").glob("*/0000_*"))
    assert note_contributions_start_on_time(folder, "pop4", 0, 4, {"seconds": 2.0}) > 20


def test_one_sounding_note_per_pitch_in_the_ground_truth():
    notes = [
        Note(0.0, 1.0, 60, 90),
        Note(0.5, 0.8, 60, 80),
        Note(0.5, 0.6, 60, 70),
        Note(0.2, 0.4, 64, 90),
    ]
    assert resolve_overlaps(notes) == [
        Note(0.0, 0.5, 60, 90),
        Note(0.2, 0.4, 64, 90),
        Note(0.5, 0.8, 60, 80),
    ]


def test_assign_splits_by_piece():
    pieces = [f"p{k % 7}" for k in range(20)]  # 7 pieces, each rendered several times
    mapping = assign_splits(pieces, (0.8, 0.1, 0.1), seed=3)
    assert set(mapping) == set(pieces)
    counts = {s: sum(v == s for v in mapping.values()) for s in ("train", "valid", "test")}
    assert counts == {"train": 5, "valid": 1, "test": 1}
    assert mapping == assign_splits(list(reversed(pieces)), (0.8, 0.1, 0.1), seed=3)
    assert set(assign_splits(["a", "b"], (0.8, 0.1, 0.1), 0).values()) <= {"train", "valid", "test"}
    with pytest.raises(ConfigError, match="three non-negative shares"):
        assign_splits(pieces, (0.8, -0.1, 0.3), seed=0)


def test_chorales_recipe_four_voices_split_by_piece(tmp_path):
    manifest = render_dataset("chorales", tmp_path / "ch", 3, seed=0, seconds=2.0)
    pieces = {}
    for entry in manifest["tracks"]:
        pieces.setdefault(entry["piece"], set()).add(entry["split"])
        assert entry["piece"].startswith("bwv")
        assert set(entry["params"]["programs"]) == {"soprano", "alto", "tenor", "bass"}
        notes = json.loads(
            (tmp_path / "ch" / entry["split"] / entry["track"] / "notes.json").read_text()
        )
        # SATB ranges: every soprano note above the mean bass note
        soprano = [r[2] for r in notes["stems"]["soprano"]]
        bass = [r[2] for r in notes["stems"]["bass"]]
        assert min(soprano) > np.mean(bass)
    assert all(len(s) == 1 for s in pieces.values())
    assert len({work_id(p) for p in pieces}) == 3  # three different works


def test_chorale_variants_belong_to_one_work():
    assert work_id("bwv248.64-s") == work_id("bwv248.64-6") == "bwv248.64"
    assert work_id("bwv269") == "bwv269" and work_id("bwv1.6") != work_id("bwv1.7")


def test_pop4_recipe_stems_at_another_rate(tmp_path):
    manifest = render_dataset("pop4", tmp_path / "pop", 1, seed=0, seconds=2.0, samplerate=22050)
    assert (
        manifest["stems"] == ["drums", "bass", "other", "vocals"]
        and manifest["samplerate"] == 22050
    )
    entry = manifest["tracks"][0]
    assert entry["params"]["groove"] in ("rock", "pop", "funk", "shuffle")
    folder = tmp_path / "pop" / entry["split"] / entry["track"]
    for stem in manifest["stems"]:
        audio, sr = read_audio(folder / f"{stem}.wav")
        assert sr == 22050 and audio.shape == (2, 44100) and np.abs(audio).max() > 1e-3


def test_bad_render_requests_are_one_line_errors(tmp_path):
    with pytest.raises(
        ConfigError, match="unknown recipe 'jazz'; choose one of chorales, pop4, techhouse5"
    ):
        render_dataset("jazz", tmp_path / "x", 1)
    with pytest.raises(ConfigError, match="has no parameter 'tempo'"):
        render_dataset("pop4", tmp_path / "x", 1, tempo=3)
    with pytest.raises(DataError, match="missing.sf2: soundfont not found"):
        render_dataset("pop4", tmp_path / "x", 1, soundfont=tmp_path / "missing.sf2")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("user file")
    with pytest.raises(DataError, match="not empty and holds no render"):
        render_dataset("pop4", tmp_path / "busy", 1, seconds=1.0)
    assert (tmp_path / "busy" / "keep.txt").read_text() == "user file"


def test_render_cli(run_cli, tmp_path):
    out = tmp_path / "cli"
    code, _, err = run_cli(
        "--quiet",
        "data",
        "render",
        "--recipe",
        "techhouse5",
        "--tracks",
        "1",
        "--out",
        str(out),
        "--seconds",
        "1",
        "--set",
        "bpm=[124,124]",
    )
    assert code == 0, err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["tracks"][0]["params"]["bpm"] == 124.0
    code, _, err = run_cli(
        "data", "render", "--recipe", "techhouse5", "--tracks", "1", "--out", str(out)
    )
    assert code == 1 and "pass --overwrite" in err and len(err.strip().splitlines()) == 1
    code, _, _ = run_cli(
        "--quiet",
        "data",
        "render",
        "--recipe",
        "techhouse5",
        "--tracks",
        "1",
        "--out",
        str(out),
        "--seconds",
        "1",
        "--overwrite",
    )
    assert code == 0


def test_soundfont_is_configurable_with_a_fallback(tmp_path, monkeypatch):
    from audiolora.data.render import synth

    monkeypatch.setattr(synth, "DEFAULT_SOUNDFONTS", (str(tmp_path / "absent.sf2"),))
    fallback = find_soundfont()
    assert fallback.name == "TimGM6mb.sf2"
    manifest = render_dataset(
        "techhouse5", tmp_path / "tim", 1, seed=1, seconds=1.0, soundfont=fallback
    )
    assert manifest["soundfont"]["file"] == "TimGM6mb.sf2"
    mixture = next((tmp_path / "tim").glob("*/*/mixture.wav"))
    assert 20 * np.log10(np.abs(read_audio(mixture)[0]).max()) == pytest.approx(-1.0, abs=0.01)
    monkeypatch.setattr(synth.Path, "is_file", lambda self: False)
    with pytest.raises(
        DataError, match="no General MIDI soundfont found; install fluid-soundfont-gm"
    ):
        find_soundfont()


def test_techhouse_stems_sound_like_their_names(techhouse):
    """Kick and bass carry their energy low, the hi-hat high, on every track."""

    def share(path, low, high):
        audio = read_audio(path)[0].mean(axis=0)
        power = np.abs(np.fft.rfft(audio)) ** 2
        freqs = np.fft.rfftfreq(audio.size, 1 / 44100)
        return float(power[(freqs >= low) & (freqs < high)].sum() / power.sum())

    for folder in tracks_of(techhouse):
        assert share(folder / "kick.wav", 0, 250) > 0.8
        assert share(folder / "bass.wav", 0, 400) > 0.6
        assert share(folder / "hihat.wav", 5000, 22050) > 0.5
        assert share(folder / "hihat.wav", 0, 250) < 0.05


def test_hihat_gain_raises_only_the_hihat_in_the_mix(tmp_path):
    """`hihat_gain_db` is a mix level: the hihat stem moves by that many dB against the others, the
    stems still sum to the mixture, and the manifest records the value."""
    levels = {}
    for gain in (0.0, 6.0):
        out = tmp_path / f"g{gain:g}"
        render_dataset("techhouse5", out, 1, seed=3, seconds=3.0, hihat_gain_db=gain)
        (track,) = [p for p in out.glob("*/*") if p.is_dir()]
        stems = {s: read_audio(track / f"{s}.wav")[0] for s in ("kick", "hihat", "bass")}
        mixture = read_audio(track / "mixture.wav")[0]
        others = sum(read_audio(p)[0] for p in track.glob("*.wav") if p.stem != "mixture")
        assert np.abs(others - mixture).max() < 1e-4
        energy = {s: float(np.sum(a.astype(np.float64) ** 2)) for s, a in stems.items()}
        levels[gain] = 10 * np.log10(energy["hihat"] / energy["kick"])
        assert json.loads((out / "manifest.json").read_text())["params"]["hihat_gain_db"] == gain
    assert levels[6.0] - levels[0.0] == pytest.approx(6.0, abs=0.05)
