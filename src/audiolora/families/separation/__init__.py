"""Separation family: HT-Demucs with LoRA and source linkage (issue 6)."""

PRETRAINED_NAMES: tuple[str, ...] = ()


def load_separation_model(name_or_path: str):
    from ...errors import NotBuiltYet

    raise NotBuiltYet(f"{name_or_path}: loading demucs checkpoints is not built yet (issue 6)")
