"""Fixtures: a tiny random-init AceStepPipeline saved like a real checkpoint, and captioned clips."""

from __future__ import annotations

from pathlib import Path

import pytest
from genkit import SR, make_clips


@pytest.fixture(scope="session")
def tiny_ace(tmp_path_factory) -> Path:
    """A diffusers folder (model_index.json + components) of a tiny random AceStepPipeline."""
    from audiolora.families.generation.builders import ace_step_pipeline

    folder = tmp_path_factory.mktemp("ace") / "tiny-ace-turbo"
    ace_step_pipeline(samplerate=SR).save_pretrained(folder)
    return folder


@pytest.fixture
def clips(tmp_path) -> Path:
    return make_clips(tmp_path / "data")
