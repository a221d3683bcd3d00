"""Separation family: HT-Demucs with LoRA and source linkage (issue 6)."""

from .loading import is_known_name, known_names, load_separation_model


def __getattr__(name: str):
    # The Family registers itself on import; loaded lazily so that importing the package stays cheap.
    if name == "SeparationFamily":
        from .family import SeparationFamily

        return SeparationFamily
    raise AttributeError(name)


__all__ = ["is_known_name", "known_names", "load_separation_model", "SeparationFamily"]
