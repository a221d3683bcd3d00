import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def pop4_data(tmp_path_factory):
    """`audiolora data render --recipe pop4 --tracks 2 --seconds 3 --samplerate 22050`."""
    from audiolora.data.render import render_dataset

    out = tmp_path_factory.mktemp("data") / "pop4"
    render_dataset("pop4", out, 2, seed=0, samplerate=22050, seconds=3.0)
    return out
