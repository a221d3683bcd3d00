"""Load a generation base the real way: a diffusers pipeline folder, a hub id or a bundled name.

The pipeline class comes from the checkpoint's own `model_index.json`; sampling defaults (steps,
shift, guidance) come from the checkpoint's variant: a distilled "turbo" ACE-Step checkpoint samples
in 8 steps at shift 3 without guidance, a base checkpoint in about 60 steps at shift 1 with guidance
(seed 004's settings, and what ACE-Step's own pipeline assumes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from ...errors import AudioloraError, ConfigError

ASSETS = Path(__file__).resolve().parents[2] / "assets"
BUNDLED = {"gen-mini": ASSETS / "gen_mini"}
SUPPORTED = {
    "AceStepPipeline": "ace-step",
    "StableAudioPipeline": "stable-audio",
    "StableAudio3Pipeline": "stable-audio-3",
    "MusicgenForConditionalGeneration": "musicgen",  # a transformers model, not a diffusers pipeline
}
TRANSFORMERS_MODELS = {"musicgen": "MusicgenForConditionalGeneration"}  # config.json model_type
# kinds whose objective and cache are implemented
TRAINABLE = ("ace-step", "stable-audio", "stable-audio-3")
# kinds whose Family / sampler live in their own module, imported on first use (they register
# themselves in family.KIND_FAMILIES and inference.RUNNERS / GENERATORS)
KIND_MODULES = {
    "stable-audio": "stable_audio",
    "stable-audio-3": "stable_audio3",
    "musicgen": "musicgen",
}


def import_kind(kind: str) -> None:
    """Import the module of `kind` (if it has one) so that it registers itself."""
    if kind in KIND_MODULES:
        import importlib

        importlib.import_module(f"{__package__}.{KIND_MODULES[kind]}")


@dataclass(frozen=True)
class SamplingDefaults:
    steps: int
    shift: float
    guidance: float


VARIANT_DEFAULTS = {
    "turbo": SamplingDefaults(steps=8, shift=3.0, guidance=1.0),
    "base": SamplingDefaults(steps=60, shift=1.0, guidance=7.0),
}


def resolve_location(name: str) -> str:
    """A local folder for bundled names and paths; the name itself for a hub id."""
    if name in BUNDLED:
        folder = BUNDLED[name]
        if not (folder / "model_index.json").is_file():
            raise AudioloraError(
                f"{name}: the bundled weights are missing from {folder} (reinstall audiolora, or "
                "build them with scripts/train_gen_mini.py)"
            )
        return str(folder)
    path = Path(name)
    if path.exists():
        if not (path / "model_index.json").is_file() and not transformers_class_name(path):
            raise AudioloraError(
                f"{path}: not a diffusers pipeline folder (no model_index.json); give the folder "
                "written by save_pretrained or a hub id"
            )
        return str(path)
    if "/" not in name:
        known = ", ".join(sorted(BUNDLED))
        raise AudioloraError(f"{name}: no such model, folder or hub id (bundled: {known})")
    return name


def transformers_class_name(folder: Path) -> str | None:
    """The supported transformers class of a folder without model_index.json (its config.json)."""
    config = folder / "config.json"
    if (folder / "model_index.json").is_file() or not config.is_file():
        return None
    try:
        model_type = json.loads(config.read_text()).get("model_type")
    except (OSError, ValueError):
        return None
    return TRANSFORMERS_MODELS.get(model_type)


def _hub_transformers_class(location: str) -> str | None:
    from huggingface_hub import hf_hub_download

    try:
        config = Path(hf_hub_download(location, "config.json"))
    except Exception:
        return None
    return transformers_class_name(config.parent)


def pipeline_class_name(location: str) -> str:
    """The pipeline class a checkpoint declares in its model_index.json (or a supported transformers
    model's class, from its config.json)."""
    local = Path(location)
    if local.is_dir() and transformers_class_name(local):
        return transformers_class_name(local)
    if local.is_dir():
        index = json.loads((local / "model_index.json").read_text())
    else:  # hub id: only model_index.json is fetched here (or read from the local cache)
        from huggingface_hub import hf_hub_download

        try:
            index = json.loads(Path(hf_hub_download(location, "model_index.json")).read_text())
        except Exception as exc:
            found = _hub_transformers_class(location)
            if found:
                return found
            raise AudioloraError(
                f"{location}: cannot fetch model_index.json from the hub ({type(exc).__name__}); "
                "download the checkpoint and pass its folder"
            ) from None
    name = index.get("_class_name", "")
    if name not in SUPPORTED:
        raise AudioloraError(
            f"{location}: pipeline {name or '?'} is not a supported generation base "
            f"(supported: {', '.join(SUPPORTED)})"
        )
    return name


def checkpoint_variant(pipe) -> str:
    """`turbo` for a guidance-distilled checkpoint, else `base` (read from the DiT's config)."""
    scheduler = getattr(pipe, "scheduler", None)
    if type(pipe).__name__ == "StableAudio3Pipeline" and scheduler is not None:
        # SA3's distilled checkpoint samples with the stochastic (ping-pong) Euler step
        return "turbo" if scheduler.config.stochastic_sampling else "base"
    config = pipe.transformer.config
    if getattr(config, "is_turbo", False) or getattr(config, "model_version", None) == "turbo":
        return "turbo"
    return "base"


def sampling_defaults(variant: str, steps=None, shift=None, guidance=None) -> SamplingDefaults:
    """The variant's defaults with any explicit override applied."""
    d = VARIANT_DEFAULTS[variant]
    return SamplingDefaults(
        steps=int(steps or d.steps),
        shift=float(shift if shift is not None else d.shift),
        guidance=float(guidance if guidance is not None else d.guidance),
    )


def load_pipeline(name: str, *, dtype: torch.dtype = torch.float32, skip: tuple[str, ...] = ()):
    """The stock diffusers pipeline for `name`; components in `skip` are not loaded (None)."""
    import diffusers

    # diffusers loads a component class only from a module already imported (gen-mini's MelCodec)
    from .codecs import quiet_codec_type_warning

    location = resolve_location(name)
    cls = getattr(diffusers, pipeline_class_name(location))
    kwargs = {component: None for component in skip}
    try:
        with quiet_codec_type_warning():
            pipe = cls.from_pretrained(location, dtype=dtype, **kwargs)
    except (OSError, ValueError) as exc:
        raise AudioloraError(
            f"{location}: cannot load the pipeline ({str(exc).splitlines()[0]})"
        ) from None
    pipe.set_progress_bar_config(disable=True)
    return pipe


def pipeline_kind(pipe) -> str:
    kind = SUPPORTED.get(type(pipe).__name__)
    if kind is None:
        raise ConfigError(f"{type(pipe).__name__}: not a supported generation pipeline")
    return kind


def require_trainable(kind: str, name: str) -> None:
    if kind not in TRAINABLE:
        raise ConfigError(
            f"model.name={name}: a {kind} checkpoint loads and generates (with adapters), but its "
            f"training objective and cache are not built yet; train on an ACE-Step checkpoint"
        )
