"""The stem-folder layout: `root/<track>/{mixture.<ext>, <source>.<ext>...}` and its audio suffixes.

Below both `stems` (the datasets) and `checks` (the dataset checks), so neither imports the other's
module to find files.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import DataError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")
MIXTURE = "mixture"


def find_stem_file(folder: Path, stem: str) -> Path | None:
    """`<folder>/<stem>.<ext>` for the first audio extension present, else None."""
    for suffix in AUDIO_SUFFIXES:
        candidate = folder / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def list_tracks(root: str | os.PathLike, sources: list[str] | tuple[str, ...]) -> list[Path]:
    """Track folders under `root` (sorted) that hold at least one of `sources` or a mixture."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such dataset folder; render one with `audiolora data render`")
    names = [*sources, MIXTURE]
    return sorted(
        p for p in root.iterdir() if p.is_dir() and any(find_stem_file(p, n) for n in names)
    )
