"""Separation family: HT-Demucs with LoRA and source linkage (issue 6)."""

from .loading import MINI_NAME, load_separation_model, pretrained_names, split_member

PRETRAINED_NAMES: tuple[str, ...] = (MINI_NAME, *pretrained_names())


def is_known_name(spec: str) -> bool:
    """True for `htdemucs-mini`, a demucs pretrained name, or `name:member` of one."""
    return split_member(spec)[0] in PRETRAINED_NAMES


def __getattr__(name: str):
    # The Family registers itself on import; loaded lazily so `hub` can import this package cheaply.
    if name == "SeparationFamily":
        from .family import SeparationFamily

        return SeparationFamily
    raise AttributeError(name)


__all__ = ["PRETRAINED_NAMES", "is_known_name", "load_separation_model", "SeparationFamily"]
