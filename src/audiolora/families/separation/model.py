"""Rebuild an adapted separation model from an adapter folder (base + linkage + adapter)."""

from __future__ import annotations

from pathlib import Path

import torch.nn as nn

from ...errors import AudioloraError
from .linkage import Link


def read_separation_metadata(adapter_dir: Path) -> dict:
    from ...adapters import read_adapter_metadata

    meta = read_adapter_metadata(adapter_dir)
    if meta.get("family") != "separation":
        raise AudioloraError(
            f"{adapter_dir}: adapter of family {meta.get('family')!r}, not a separation adapter"
        )
    return meta


def load_adapted(adapter_dir: str | Path, base: str | None = None) -> tuple[nn.Module, list[Link]]:
    """(model with the adapter loaded, its stem links); `base` overrides the recorded base model."""
    from ...adapters import load_adapter
    from .family import build_linked_base

    adapter_dir = Path(adapter_dir)
    meta = read_separation_metadata(adapter_dir)
    model, links, _slices, _base = build_linked_base(
        base or meta["base"], meta.get("source_linkage"), meta.get("sources")
    )
    segment = model.segment
    load_adapter(model, adapter_dir)
    model.segment = segment
    model.eval()
    return model, links
