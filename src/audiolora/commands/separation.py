"""`audiolora eval | separate | export`: the separation family's commands (issue 6)."""

from __future__ import annotations

import click

from . import not_built


@click.command("eval")
@click.argument("run")
def eval_(run: str) -> None:
    """Evaluate base vs adapted on a run's test split."""
    not_built("eval", 6)


@click.command()
@click.argument("files", nargs=-1, required=True)
def separate(files: tuple[str, ...]) -> None:
    """Separate audio FILES into stems with a base model and an adapter."""
    not_built("separate", 6)


@click.command()
@click.argument("source")
def export(source: str) -> None:
    """Export an adapter, or a base with the adapter merged in."""
    not_built("export", 6)


COMMANDS = [eval_, separate, export]
