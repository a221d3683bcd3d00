"""`audiolora transcribe`: the transcription family's commands (issue 7)."""

from __future__ import annotations

import click

from . import not_built


@click.command()
@click.argument("file")
def transcribe(file: str) -> None:
    """Transcribe notes in FILE to MIDI, optionally stem by stem."""
    not_built("transcribe", 7)


COMMANDS = [transcribe]
