"""audiolora: low-rank adapters (LoRA, LoKr) for pretrained audio and music models."""

__version__ = "0.1.0"

import os as _os
import sys as _sys

# torch's OpenMP threads spin-wait between parallel ops by default. When anything else runs on the
# cores, a descheduled thread stalls every op: the demo's training step took 17.4 s instead of 2.2 s
# next to one other job on 2 cores (its cost on an idle machine is not measured yet). It must be set
# before torch loads its OpenMP runtime; a value the user set wins.
if "torch" not in _sys.modules:
    _os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .adapters.spec import AdapterSpec  # noqa: E402
from .config import RunConfig, load_config  # noqa: E402

# The adapter engine's API, imported on first use (it pulls in PEFT, which the CLI's start-up avoids).
_ADAPTER_API = (
    "Report",
    "adapter_state_dict",
    "attach_adapter",
    "delete_adapter",
    "enable_gradient_checkpointing",
    "estimate_gradient_ranks",
    "export_lycoris",
    "export_merged",
    "grow_rank",
    "load_adapter",
    "load_adapter_state_dict",
    "merge_adapter",
    "parameter_report",
    "read_adapter_metadata",
    "save_adapter",
    "set_active_adapter",
    "set_adapter_weights",
    "unmerge_adapter",
)


def __getattr__(name: str):
    if name in _ADAPTER_API:
        from . import adapters

        return getattr(adapters, name)
    raise AttributeError(f"module 'audiolora' has no attribute {name!r}")


__all__ = ["AdapterSpec", "RunConfig", "load_config", "__version__", *_ADAPTER_API]
