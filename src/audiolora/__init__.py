"""audiolora: low-rank adapters (LoRA, LoKr) for pretrained audio and music models."""

__version__ = "0.1.0"

from .adapters import AdapterSpec  # noqa: E402
from .config import RunConfig, load_config  # noqa: E402

__all__ = ["AdapterSpec", "RunConfig", "load_config", "__version__"]
