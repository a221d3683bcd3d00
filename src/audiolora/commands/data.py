"""`audiolora data check | render | split` (issue 5)."""

from __future__ import annotations

import click

from . import not_built


@click.group()
def data() -> None:
    """Render, check and split audio datasets."""


@data.command("check")
@click.argument("root")
def data_check(root: str) -> None:
    """Check a stem-folder dataset: alignment, rates, sum == mixture, clipping, corrupt files."""
    not_built("data check", 5)


@data.command("render")
def data_render() -> None:
    """Render real multi-stem audio from scores and MIDI with FluidSynth."""
    not_built("data render", 5)


@data.command("split")
def data_split() -> None:
    """Cut long files into aligned segments."""
    not_built("data split", 5)


COMMANDS = [data]
