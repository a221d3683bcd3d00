"""The closing summary of a separation run: it names the stems, TensorBoard and final/ folders, and
its `audiolora separate` line, pasted as printed, separates a new file with the run's adapter."""

import shlex

import numpy as np
import pytest
import soundfile as sf
from sep_tiny import SR, save_th, tiny_htdemucs

from audiolora.config import validate_config
from audiolora.families.separation.family import SeparationFamily
from audiolora.families.separation.summary import (
    print_summary,
    summary_lines,
    write_listening_stems,
)

STEMS = ["other", "kick", "vocals", "bass", "hihat"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run folder whose final/ holds a 5-stem adapter (kick: drums, hihat: new) on a tiny base."""
    tmp_path = tmp_path_factory.mktemp("summary")
    base = save_th(tiny_htdemucs(sources=["drums", "bass", "other", "vocals"]), tmp_path / "b.th")
    config = validate_config(
        {
            "model": {"family": "separation", "name": str(base)},
            "separation": {
                "source_linkage": {
                    "other": "other",
                    "kick": "drums",
                    "vocals": "vocals",
                    "bass": "bass",
                    "hihat": "new:copy:drums",
                },
            },
            "adapter": {"rank": 2},
            "data": {"sources": STEMS, "samplerate": SR},
        }
    )
    family = SeparationFamily(config)
    model = family.build_model()
    # a long folder name: the printed command must survive a log's 80 columns and the space
    folder = tmp_path / "runs with space" / ("separation-" + "x" * 70)
    family.save_adapter(model, folder / "final")
    (folder / "tensorboard").mkdir()
    return folder


def _wav(path, seconds=1.5, seed=0):
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, 0.1 * rng.standard_normal((int(seconds * SR), 2)).astype("float32"), SR)
    return path


def test_summary_names_folders_and_its_separate_line_works(
    run, tmp_path, run_cli, capsys, monkeypatch
):
    lines = summary_lines(run, run / "separated" / "0000_song")
    text = "\n".join(lines)
    assert f"{run / 'final'}/" in text
    assert f"{run / 'tensorboard'}/" in text
    assert str(run / "separated" / "0000_song") in text
    commands = [ln.strip() for ln in lines if ln.strip().startswith("audiolora separate ")]
    assert len(commands) == 1
    argv = shlex.split(commands[0])
    assert argv[argv.index("--adapter") + 1] == str(run / "final")

    # printed to a pipe (80 columns), the command stays on one line and pastes as printed
    print_summary(run)
    printed = capsys.readouterr().out.splitlines()
    assert commands[0] in [ln.strip() for ln in printed]
    assert printed[-1].strip() == commands[0]  # the output ends with the command

    monkeypatch.chdir(tmp_path)
    song = _wav(tmp_path / "my_track.wav")
    code, out, err = run_cli(*argv[1:])
    assert code == 0, err
    for stem in STEMS:
        audio, sr = sf.read(tmp_path / "separated" / "my_track" / f"{stem}.wav")
        assert sr == SR and audio.shape == sf.read(song)[0].shape


def test_listening_stems_are_the_first_test_track_separated(run, tmp_path):
    test = tmp_path / "data" / "test"
    _wav(test / "0001_b" / "mixture.wav", seed=1)
    _wav(test / "0000_a" / "mixture.wav", seed=2)
    out = write_listening_stems(run / "final", test, tmp_path / "separated")
    assert out == tmp_path / "separated" / "0000_a"
    assert sorted(p.stem for p in out.glob("*.wav")) == sorted(STEMS)
    assert write_listening_stems(run / "final", tmp_path / "data", tmp_path / "x") is None


def _dataset(root, tracks_per_split=1, seconds=2.5):
    """Noise stems and their sum as mixture.wav, in train/valid/test."""
    rng = np.random.default_rng(3)
    for split in ("train", "valid", "test"):
        for i in range(tracks_per_split):
            track = root / split / f"{i:04d}_{split}"
            track.mkdir(parents=True)
            stems = 0.05 * rng.standard_normal((len(STEMS), int(seconds * SR), 2))
            for name, stem in zip(STEMS, stems, strict=True):
                sf.write(track / f"{name}.wav", stem.astype("float32"), SR)
            sf.write(track / "mixture.wav", stems.sum(0).astype("float32"), SR)


@pytest.mark.slow
def test_train_output_ends_with_the_summary(tmp_path, run_cli):
    import yaml

    base = save_th(tiny_htdemucs(sources=["drums", "bass", "other", "vocals"]), tmp_path / "b.th")
    _dataset(tmp_path / "data")
    cfg = {
        "run": {"name": "demo", "output_dir": str(tmp_path / "runs")},
        "model": {"family": "separation", "name": str(base)},
        "separation": {
            "source_linkage": dict(
                zip(STEMS, ["other", "drums", "vocals", "bass", "new"], strict=True)
            ),
            "new_stem_init": "copy:drums",
        },
        "adapter": {"rank": 2},
        "data": {
            "root": str(tmp_path / "data"),
            "sources": STEMS,
            "samplerate": SR,
            "segment": 2.0,
        },
        "train": {"max_steps": 2, "batch_size": 1, "eval_every": 2, "checkpoint_every": 2},
    }
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    code, out, err = run_cli("train", str(tmp_path / "cfg.yaml"))
    assert code == 0, err
    run = tmp_path / "runs" / "demo"
    lines = [ln.strip() for ln in out.splitlines() if ln.strip()]
    assert lines[-1] == f"audiolora separate my_track.wav --adapter {run / 'final'} --out separated"
    assert any(ln.startswith("tensorboard") and f"{run / 'tensorboard'}/" in ln for ln in lines)
    listen = run / "separated" / "0000_test"
    assert any(str(listen) in ln for ln in lines)
    assert sorted(p.stem for p in listen.glob("*.wav")) == sorted(STEMS)
