"""The adapter engine: LoRA and LoKr on every layer type audio models use, on top of PEFT.

Names are imported on first use so that `import audiolora` (config, CLI start-up) does not pull in
PEFT.
"""

from __future__ import annotations

import importlib

from .spec import AdapterSpec

_WHERE = {
    "enable_gradient_checkpointing": "checkpointing",
    "adapters_of": "modules",
    "attach_adapter": "engine",
    "base_hash": "modules",
    "adapter_state_dict": "io",
    "export_lycoris": "io",
    "load_adapter": "io",
    "load_adapter_state_dict": "io",
    "read_adapter_metadata": "io",
    "save_adapter": "io",
    "check_live": "live",
    "dead_modules": "live",
    "delete_adapter": "merge",
    "export_merged": "merge",
    "merge_adapter": "merge",
    "merged_state_dict": "merge",
    "set_active_adapter": "merge",
    "set_adapter_weights": "merge",
    "unmerge_adapter": "merge",
    "compute_ranks": "ranks",
    "estimate_gradient_ranks": "ranks",
    "grow_rank": "ranks",
    "Report": "report",
    "parameter_report": "report",
    "match_modules": "targets",
    "resolve_targets": "targets",
}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["AdapterSpec", *_WHERE]
