import dataclasses

import pytest
import torch

from audiolora.config import load_config
from audiolora.errors import DataError
from audiolora.families.base import get_family
from audiolora.families.v2a.features import (
    CacheSettings,
    build_cache,
    load_clip_features,
    read_manifest,
)


def test_cache_contents_and_shapes(cache):
    folder, manifest = cache
    assert manifest["samplerate"] == 16000 and manifest["latent_rate"] == 31.25
    assert manifest["dims"] == {"latent_dim": 8, "clip_dim": 32, "sync_dim": 17, "text_dim": 32}
    # 3 videos of 3 s in 2 s clips with 50 % overlap: 2 clips each, the last video held out
    assert [c["split"] for c in manifest["clips"]] == ["train"] * 4 + ["test"] * 2
    item = load_clip_features(folder, manifest["clips"][0]["id"])
    assert item["latents"].shape == (62, 8)  # 2 s * 16 kHz / hop 512
    assert item["clip"].shape == (16, 32)  # 8 fps
    assert item["sync"].shape == (48, 17)  # 24 Hz grid, 4 x 4 cells + whole picture
    assert item["text"].shape == (16, 32) and item["text_mask"].sum() == 16
    assert all(torch.isfinite(v.float()).all() for v in item.values())
    # ground-truth events come along, relative to the clip start
    entry = manifest["clips"][1]
    assert entry["start"] == 1.0 and all(0 <= t < 2.0 for t in entry["events"])


def test_cache_round_trip_reuses_and_refuses_stale(cache, encoders, videos, tmp_path):
    folder, manifest = cache
    from audiolora.data.video import Clip

    clips = [
        Clip(**{k: c[k] for k in ("id", "video", "start", "seconds", "split")})
        for c in manifest["clips"]
    ]
    before = {p.name: p.stat().st_mtime_ns for p in (folder / "clips").iterdir()}
    again, failed = build_cache(clips, videos, folder, CacheSettings(**encoders))
    assert not failed and again["hash"] == manifest["hash"]
    assert {p.name: p.stat().st_mtime_ns for p in (folder / "clips").iterdir()} == before
    other = dataclasses.replace(CacheSettings(**encoders), clip_fps=4.0)
    with pytest.raises(DataError, match="stale feature cache.*clip_fps") as err:
        build_cache(clips, videos, folder, other)
    assert "\n" not in str(err.value)
    assert read_manifest(folder)["hash"] == manifest["hash"]


def test_family_refuses_a_stale_cache_without_loading_encoders(cache, encoders, base_dir):
    folder, _ = cache
    sets = [
        "model.family=v2a",
        f"model.name={base_dir}",
        f"v2a.cache_dir={folder}",
        f"v2a.codec={encoders['codec']}",
        f"v2a.clip_model={encoders['clip_model']}",
        f"v2a.text_model={encoders['text_model']}",
    ]
    family = get_family(load_config(None, sets))
    train, held = family.datasets()
    assert len(train) == 4 and len(held) == 2
    stale = get_family(load_config(None, [*sets, "v2a.sync_grid=2"]))
    with pytest.raises(DataError, match="stale feature cache"):
        stale.datasets()
