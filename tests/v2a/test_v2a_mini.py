"""The bundled v2a-mini base (by name, with its own encoders) and the renderer's second kit."""

import json

import numpy as np
import pytest
import torch

from audiolora.adapters import read_adapter_metadata
from audiolora.data.render.video import KITS, VideoSpec, compose, render_audio, render_frames
from audiolora.families.generation.codecs import MelCodec
from audiolora.families.v2a.bases import BUNDLED, base_encoders, load_base
from audiolora.families.v2a.features import CacheSettings, Encoders
from audiolora.families.v2a.generate import check_dims, resolve
from audiolora.families.v2a.model import V2ADiT

BUNDLE = BUNDLED["v2a-mini"]


def test_v2a_mini_loads_by_name_with_its_encoders():
    model = load_base("v2a-mini")
    assert isinstance(model, V2ADiT) and not model.training
    enc_paths = base_encoders("v2a-mini")
    assert enc_paths == {k: str(BUNDLE / k) for k in ("codec", "clip_model", "text_model")}
    enc = Encoders(CacheSettings(**enc_paths))
    check_dims(model, enc, "v2a-mini")  # raises when the DiT and its encoders disagree
    assert isinstance(enc.codec, MelCodec) and enc.samplerate == 16000
    # the codec's statistics were measured on the pretraining audio, not left at 0 / 1
    assert enc.codec.latent_mean.abs().min() > 0 and not torch.allclose(
        enc.codec.latent_std, torch.ones_like(enc.codec.latent_std)
    )
    record = json.loads((BUNDLE / "training.json").read_text())
    assert record["data"]["kit"] == "drums" and record["training"]["steps"] > 0
    assert not list(BUNDLE.rglob("*.bin")) and not list(BUNDLE.rglob("*.pt"))


def test_generate_defaults_to_v2a_mini_and_its_encoders():
    from audiolora.config import load_config

    opts = load_config(None, ["model.family=v2a"]).v2a
    name, settings = resolve(opts, None, None)
    assert name == "v2a-mini"
    assert settings.codec == str(BUNDLE / "codec")
    assert settings.clip_model == str(BUNDLE / "clip_model")
    assert settings.text_model == str(BUNDLE / "text_model")


def test_kits_share_onsets_but_not_sound_or_picture():
    drums, wood = VideoSpec(seconds=3.0, size=32), VideoSpec(seconds=3.0, size=32, kit="wood")
    a, b = compose(2, 5, drums), compose(2, 5, wood)
    assert list(a) == list(KITS["drums"]) and list(b) == list(KITS["wood"])
    assert list(a.values()) == list(b.values())  # the k-th instrument keeps its onset times
    wa, wb = render_audio(a, drums, 0)[0], render_audio(b, wood, 0)[0]
    first = int(min(t for ts in a.values() for t in ts) * drums.samplerate)
    assert np.abs(wa[:first]).max() == 0 and np.abs(wb[:first]).max() == 0
    assert (
        np.abs(wa[first : first + 200]).max() > 0.01
        and np.abs(wb[first : first + 200]).max() > 0.01
    )
    spec_a = np.abs(np.fft.rfft(wa)) / np.linalg.norm(wa)
    spec_b = np.abs(np.fft.rfft(wb)) / np.linalg.norm(wb)
    assert float(spec_a @ spec_b) / float(np.linalg.norm(spec_a) * np.linalg.norm(spec_b)) < 0.5
    assert not np.array_equal(render_frames(a, drums), render_frames(b, wood))


def test_render_kit_option(run_cli, tmp_path):
    args = ["--quiet", "v2a", "render", "--videos", "1", "--seconds", "1", "--size", "32"]
    assert run_cli(*args, str(tmp_path / "d"))[0] == 0
    code, _, err = run_cli(*args, "--kit", "wood", str(tmp_path / "w"))
    assert code == 0, err
    truth_d = json.loads((tmp_path / "d" / "sync_000.onsets.json").read_text())
    truth_w = json.loads((tmp_path / "w" / "sync_000.onsets.json").read_text())
    assert truth_w["events"] == truth_d["events"] and set(truth_w["onsets"]) == set(KITS["wood"])
    assert "woodblock" in (tmp_path / "w" / "sync_000.txt").read_text()


def test_run_config_defaults_to_v2a_mini_and_keeps_a_configs_base(tmp_path):
    from audiolora.commands.video import _config

    config = _config(None, [], tmp_path)
    assert config.model.name == "v2a-mini"
    assert config.v2a.codec == str(BUNDLE / "codec")
    assert config.v2a.text_model == str(BUNDLE / "text_model")
    shipped = _config("configs/v2a/v2a_mini_lora.yaml", [], tmp_path)
    assert (
        shipped.model.name == "v2a-mini" and shipped.v2a.rank_phases[0][1] == shipped.adapter.rank
    )
    other = tmp_path / "other.yaml"
    other.write_text("model:\n  family: v2a\n  name: my-base\n")
    assert _config(
        str(other), [], tmp_path, codec="c", clip_model="v", text_model="t"
    ).model.name == ("my-base")


@pytest.mark.slow
def test_v2a_run_without_model_uses_v2a_mini(run_cli, videos, tmp_path):
    out = tmp_path / "run"
    code, stdout, stderr = run_cli(
        "--quiet",
        "v2a",
        "run",
        str(videos),
        "--out",
        str(out),
        "--steps",
        "2",
        "adapter.rank=2",
        "v2a.holdout=0.34",
        "v2a.eval_clips=1",
        "v2a.sample_steps=2",
        "train.batch_size=2",
        "train.eval_every=2",
    )
    assert code == 0, stderr
    assert "sync_offset_ms" in stdout
    meta = read_adapter_metadata(out / "train" / "final")
    assert meta["base"] == "v2a-mini"
    assert meta["encoders"] == {k: str(BUNDLE / k) for k in ("codec", "clip_model", "text_model")}
    manifest = json.loads((out / "cache" / "manifest.json").read_text())
    assert manifest["dims"]["latent_dim"] == load_base("v2a-mini").config.latent_dim
