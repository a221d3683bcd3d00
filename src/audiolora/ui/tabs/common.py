"""What the tabs share: the app context, one-line errors as Gradio errors, audio for players."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from ...errors import AudioloraError


@dataclass
class Context:
    """The app's settings: where outputs go (served for download), and the working folder."""

    work_dir: Path

    def out_dir(self, kind: str) -> Path:
        """A fresh folder for one action's outputs: <work_dir>/<kind>/<time>."""
        path = self.work_dir / kind / time.strftime("%Y%m%d-%H%M%S")
        n = 1
        while path.exists():
            n += 1
            path = path.with_name(f"{path.name.split('.')[0]}.{n}")
        path.mkdir(parents=True)
        return path


def one_line_errors(fn):
    """Show an AudioloraError as its one line in the UI (a Gradio error toast), not a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except AudioloraError as exc:
            raise gr.Error(exc.one_line()) from None

    return wrapper


def player(path) -> tuple[int, object] | None:
    """(samplerate, [T, C] float32) for a gr.Audio output: no file path leaves its folder."""
    from ...audio import read_audio

    if not path or not Path(path).is_file():
        return None
    audio, sr = read_audio(path)
    return sr, audio.T
