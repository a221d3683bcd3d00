"""Shared tiny fixtures: random-init encoders saved like checkpoints, synthetic videos, one cache."""

import pytest
from v2a_tiny import SPEC, tiny_dit

from audiolora.data.render.video import render_videos
from audiolora.data.video import split_videos
from audiolora.families.v2a.features import CacheSettings, build_cache
from audiolora.families.v2a.tiny import save_tiny_encoders


@pytest.fixture(scope="session")
def encoders(tmp_path_factory):
    return save_tiny_encoders(tmp_path_factory.mktemp("encoders"))


@pytest.fixture(scope="session")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    render_videos(folder, 3, seed=0, spec=SPEC)
    return folder


@pytest.fixture(scope="session")
def cache(tmp_path_factory, encoders, videos):
    clips, skipped = split_videos(videos, 2.0, 0.5, holdout=0.34)
    assert not skipped
    folder = tmp_path_factory.mktemp("cache")
    manifest, failed = build_cache(clips, videos, folder, CacheSettings(**encoders))
    assert not failed
    return folder, manifest


@pytest.fixture(scope="session")
def base_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("base")
    import torch

    torch.manual_seed(0)
    tiny_dit().save_pretrained(str(folder))
    return folder
