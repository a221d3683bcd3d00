"""One console for the whole package: quiet mode, progress bars and tables go through here."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


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
