"""`audiolora train`: the training engine (issue 4)."""

from __future__ import annotations

import click

from . import not_built


@click.command()
@click.argument("config_path", metavar="CONFIG")
@click.argument("overrides", nargs=-1)
def train(config_path: str, overrides: tuple[str, ...]) -> None:
    """Train an adapter from a YAML CONFIG with dotted overrides (adapter.rank=8 train.lr=5e-5)."""
    not_built("train", 4)


COMMANDS = [train]
