import os

import pytest
import torch

os.environ.setdefault("AUDIOLORA_DEBUG", "0")
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture
def run_cli(capsys):
    """Run the CLI in-process; returns (exit_code, stdout, stderr)."""
    from audiolora.cli import main

    def _run(*args: str):
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return _run
