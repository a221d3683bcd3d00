"""v2a bases by name: the bundled `v2a-mini` or a V2ADiT folder, and the encoders saved with it.

A base folder may carry its frozen encoders next to the DiT weights, each saved with
`save_pretrained` in a subfolder named after its option (`codec/`, `clip_model/`, `text_model/`),
as `scripts/train_v2a_base.py` writes v2a-mini. Options left unset default to those, so the DiT
always sees features from the encoders it was trained with.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import ConfigError

ASSETS = Path(__file__).resolve().parents[2] / "assets"
DEFAULT_BASE = "v2a-mini"
BUNDLED = {"v2a-mini": ASSETS / "v2a_mini"}
ENCODER_KEYS = ("codec", "clip_model", "text_model")


def base_folder(name: str) -> Path:
    """The folder of a bundled name (refused when its weights are missing), else `name` itself."""
    if name in BUNDLED:
        folder = BUNDLED[name]
        if not (folder / "config.json").is_file():
            raise ConfigError(
                f"model.name={name}: the bundled weights are missing from {folder} (reinstall "
                "audiolora, or build them with scripts/train_v2a_base.py)"
            )
        return folder
    return Path(name)


def load_base(name: str):
    """The bundled `v2a-mini`, or a folder / hub id saved with `V2ADiT.save_pretrained`."""
    from .model import V2ADiT

    path = base_folder(name)
    try:
        model = V2ADiT.from_pretrained(str(path))
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"model.name={name}: not a v2a DiT folder (config.json + safetensors): {exc}"
        ) from None
    return model.eval()


def base_encoders(name: str) -> dict[str, str]:
    """The encoder folders saved inside the base's folder ({} for a hub id or a bare DiT)."""
    folder = base_folder(name)
    return {k: str(folder / k) for k in ENCODER_KEYS if (folder / k / "config.json").is_file()}


def with_base_encoders(opts, name: str):
    """`opts` (V2AOptions) with every unset encoder taken from the base `name`'s own encoders."""
    unset = [k for k in ENCODER_KEYS if not getattr(opts, k)]
    if not unset:
        return opts
    found = base_encoders(name)
    return opts.model_copy(update={k: found[k] for k in unset if k in found})
