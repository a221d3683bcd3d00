"""Fixtures for the data tests: a tiny rendered dataset rendered once per session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def techhouse(tmp_path_factory) -> Path:
    """Three 3-second techhouse5 tracks (one per split), rendered once per session."""
    from audiolora.data.render import render_dataset

    out = tmp_path_factory.mktemp("render") / "techhouse"
    render_dataset("techhouse5", out, 3, seed=7, seconds=3.0)
    return out
