"""Build separation models: a base with its stem linkage, and an adapted one from an adapter folder."""

from __future__ import annotations

from pathlib import Path

import torch.nn as nn

from ...errors import AudioloraError
from ...hub import load_model
from .linkage import Link, parse_linkage, relink
from .loading import single_model


def build_linked_base(
    base_spec: str,
    linkage: dict[str, str] | None,
    sources: list[str] | None,
    new_init: str = "fresh",
):
    """(linked model, links, trainable slices, plain base) for a base name/path and a linkage."""
    base = single_model(load_model(base_spec), base_spec)
    links = parse_linkage(linkage, list(base.sources), sources, new_init)
    model, slices = relink(base, links)
    return model, links, slices, base


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
