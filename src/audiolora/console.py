"""One console for the whole package: quiet mode, progress bars and tables go through here."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from rich.console import Console, ConsoleDimensions
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")

# Written to a log or a pipe, lines are this wide: nothing printed here stretches to the console
# width (tables take their natural width), so a wide one only stops tables being cut at 80 columns.
PIPE_WIDTH = 1000


class WideWhenPiped(Console):
    """A rich Console that, when its output is not a terminal and COLUMNS is not set, is
    `PIPE_WIDTH` wide instead of rich's 80 (or the width of whatever terminal stdin is)."""

    @property
    def size(self) -> ConsoleDimensions:
        size = super().size
        if self.is_terminal or os.environ.get("COLUMNS", "").isdigit():
            return size
        return ConsoleDimensions(PIPE_WIDTH, size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)


console = WideWhenPiped(highlight=False)
err_console = WideWhenPiped(stderr=True, highlight=False)


class _Settings:
    quiet: bool = False
    debug: bool = False


settings = _Settings()


def info(message: str) -> None:
    """Print a status line unless --quiet."""
    if not settings.quiet:
        console.print(message)


def warn(message: str) -> None:
    """Print a warning on stderr (always shown)."""
    err_console.print(f"[yellow]warning:[/yellow] {message}")


def make_progress(transient: bool = False) -> Progress:
    """A rich progress bar with ETA; disabled under --quiet."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
        disable=settings.quiet,
    )


@contextmanager
def progress_task(description: str, total: int | None) -> Iterator[tuple[Progress, int]]:
    """Context manager yielding (progress, task_id) for a single long task."""
    with make_progress() as bar:
        task = bar.add_task(description, total=total, status="")
        yield bar, task


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate with a progress bar (silent under --quiet or when stdout is not a terminal and CI)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with progress_task(description, total) as (bar, task):
        for item in items:
            yield item
            bar.advance(task)


def is_interactive() -> bool:
    return sys.stdout.isatty()
