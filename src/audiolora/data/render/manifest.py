"""Reading a render's `manifest.json`: its tracks of one split and their recipe parameters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...errors import DataError


def read_manifest(root: str | Path) -> dict[str, Any]:
    """`<root>/manifest.json` of a rendered dataset (a clear error when the folder is no render)."""
    path = Path(root) / "manifest.json"
    if not path.is_file():
        raise DataError(f"{path}: not found; point at a folder written by `audiolora data render`")
    return json.loads(path.read_text())


def split_tracks(manifest: dict[str, Any], split: str) -> list[dict[str, Any]]:
    """The manifest's track entries of `split`, in the order stem datasets list them (by name)."""
    return sorted((t for t in manifest["tracks"] if t["split"] == split), key=lambda t: t["track"])


def track_param(track: dict[str, Any], dotted: str) -> Any:
    """A track's recipe parameter along a dotted path (`kits.hihat`)."""
    value = track["params"]
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            raise DataError(f"manifest track {track['track']} has no parameter {dotted!r}")
        value = value[key]
    return value
