"""The adapter engine: LoRA and LoKr on every layer type audio models use, on top of PEFT."""

from .spec import AdapterSpec
from .targets import match_modules

__all__ = ["AdapterSpec", "match_modules"]
