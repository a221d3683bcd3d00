"""The bundled base's training data (scripts/train_mini_base.py): stems under other names, sources a
dataset lacks, whole-track examples beside remixes, and the SATB demo's chorales left out."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

SCRIPT = Path(__file__).parents[2] / "scripts" / "train_mini_base.py"
SR = 22050


def _script():
    spec = importlib.util.spec_from_file_location("train_mini_base", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _track(folder: Path, stems: dict[str, float], seconds: float = 1.0) -> None:
    """One track folder whose stems are constant signals of the given values (easy to trace)."""
    folder.mkdir(parents=True)
    for name, value in stems.items():
        sf.write(folder / f"{name}.wav", np.full((int(SR * seconds), 2), value, np.float32), SR)


def test_chorale_and_techhouse_stems_map_onto_the_four_base_sources(tmp_path):
    base = _script()
    _track(
        tmp_path / "ch" / "train" / "0000_x",
        {"soprano": 0.1, "alto": 0.2, "tenor": 0.3, "bass": 0.4},
    )
    _track(
        tmp_path / "th" / "train" / "0000_y",
        {"kick": 0.05, "hihat": 0.01, "bass": 0.2, "other": 0.3, "vocals": 0.4},
    )
    (chorale,) = base.load_split(tmp_path / "ch", "train", SR)
    (techhouse,) = base.load_split(tmp_path / "th", "train", SR)
    assert base.SOURCES == ["drums", "bass", "other", "vocals"]
    assert chorale.shape == (4, 2, SR)
    # chorale: no drums (silence), bass -> bass, alto + tenor -> other, soprano -> vocals
    np.testing.assert_allclose(chorale[:, 0, 0].numpy(), [0.0, 0.4, 0.5, 0.1], atol=1e-4)
    # techhouse5: kick + hihat -> drums, the rest one to one
    np.testing.assert_allclose(techhouse[:, 0, 0].numpy(), [0.06, 0.2, 0.3, 0.4], atol=1e-4)


def test_remix_never_draws_a_source_from_a_track_that_lacks_it_and_keeps_whole_tracks():
    base = _script()
    length = 100
    chorale = torch.zeros(4, 2, 400)
    chorale[1:] = 1.0  # bass, other, vocals; no drums
    pop = (1.0 + torch.arange(400) / 400.0).expand(4, 2, 400).clone()  # a ramp: offsets show
    tracks = [chorale, pop]
    has = base.stems_present(tracks)
    assert has == [[1], [0, 1], [0, 1], [0, 1]]
    batch = base.remix_batch(tracks, 400, length, torch.Generator().manual_seed(0), has)
    # gain and polarity vary per stem; the shape of what was drawn (track, offset) does not
    shape = batch.abs() / batch.abs().amax(dim=3, keepdim=True).clamp_min(1e-9)
    silent_drums = batch[:, 0].abs().amax(dim=(1, 2)) == 0
    same_draw = (shape - shape[:, 1:2]).abs().amax(dim=(1, 2, 3)) < 1e-5
    same_draw |= silent_drums & ((shape[:, 1:] - shape[:, 1:2]).abs().amax(dim=(1, 2, 3)) < 1e-5)
    # drums come from the chorale (silence) only when the whole example is the chorale
    assert silent_drums.any()
    assert (same_draw[silent_drums]).all()
    assert (batch[silent_drums, 1:].abs().amax(dim=(2, 3)) > 0).all()
    # about COHERENT_SHARE of the examples are whole tracks (every stem from one track and
    # offset); a remix draws each stem's track and offset on its own
    assert abs(same_draw.float().mean().item() - base.COHERENT_SHARE) < 0.1


def test_the_satb_demo_chorales_are_left_out_of_the_base(tmp_path):
    from audiolora.data.render.chorales import select_chorales, work_id

    base = _script()
    held = {work_id(c.name) for c in select_chorales(*base.HELD_OUT_CHORALES)}
    assert base.held_out_works(tmp_path / "chorales-22k") == held
    assert base.held_out_works(tmp_path / "pop4-22k") == set()
    root = tmp_path / "chorales-22k"
    kept, dropped = "0000_bwv0.1", "0001_" + sorted(held)[0]
    for name in (kept, dropped):
        _track(root / "train" / name, {"soprano": 0.1, "alto": 0.1, "tenor": 0.1, "bass": 0.1})
    manifest = {
        "tracks": [
            {"track": kept, "piece": "bwv0.1", "split": "train"},
            {"track": dropped, "piece": sorted(held)[0], "split": "train"},
        ]
    }
    (root / "manifest.json").write_text(json.dumps(manifest))
    assert len(base.load_split(root, "train", SR)) == 1


def test_init_continues_from_a_base_and_keeps_its_record(tmp_path):
    import subprocess
    import sys

    from safetensors.torch import load_file

    assets = SCRIPT.parents[1] / "src" / "audiolora" / "assets"
    data = tmp_path / "pop4-tiny"
    for split in ("train", "test"):
        _track(
            data / split / "0000_a",
            {"drums": 0.1, "bass": 0.2, "other": 0.05, "vocals": 0.3},
            seconds=4.0,
        )
    out = tmp_path / "out"
    subprocess.run(
        [sys.executable, str(SCRIPT), "--data", str(data), "--max-steps", "1", "--lr", "1e-9"]
        + ["--init", str(assets), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    record = json.loads((out / "htdemucs_mini.json").read_text())
    bundled = json.loads((assets / "htdemucs_mini.json").read_text())
    assert record["train"]["init"] == "previous"
    assert record["previous"]["train"] == bundled["train"]
    assert record["previous"]["previous"] == bundled["previous"]
    # one step at a negligible lr: the weights are the bundled ones, not a fresh init
    before, after = (
        load_file(assets / "htdemucs_mini.safetensors"),
        load_file(out / "htdemucs_mini.safetensors"),
    )
    assert before.keys() == after.keys()
    assert max((before[k] - after[k]).abs().max().item() for k in before) < 1e-5
