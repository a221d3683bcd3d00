"""Typed run config: YAML files with `defaults:` includes, named presets and dotted overrides.

Resolution order (later wins): the file's `defaults:` includes (and `_self_` where listed; the file
itself last when `_self_` is absent) -> the preset (`preset: NAME` in the file or `preset=NAME` on
the command line, read from `configs/presets/NAME.yaml`) -> command-line overrides in the order given.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .adapters.spec import AdapterSpec
from .data.config import DataConfig
from .errors import ConfigError
from .families.generation.config import GenerationOptions
from .families.separation.config import SeparationOptions
from .families.transcription.config import TranscriptionOptions
from .families.v2a.config import V2AOptions
from .train.config import TrainConfig


class RunSection(BaseModel):
    """Run identity: name, output folder and seed."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    output_dir: str = "outputs"
    seed: int = 0


FAMILY_SECTIONS = ("separation", "transcription", "generation", "v2a")


class ModelConfig(BaseModel):
    """Which base model to adapt: the family and a bundled name, hub id, folder or file."""

    model_config = ConfigDict(extra="forbid")

    family: Literal["separation", "transcription", "generation", "v2a"] = "separation"
    name: str = "htdemucs-tiny"


class EvalConfig(BaseModel):
    """Evaluation options."""

    model_config = ConfigDict(extra="forbid")

    split: str = "test"
    shifts: int = Field(0, ge=0)
    overlap: float = Field(0.25, ge=0, lt=1)


class RunConfig(BaseModel):
    """The whole, resolved run config."""

    model_config = ConfigDict(extra="forbid")

    preset: str | None = None
    run: RunSection = Field(default_factory=RunSection)
    model: ModelConfig = Field(default_factory=ModelConfig)
    # each family's own options; only the section of `model.family` may be set
    separation: SeparationOptions = Field(default_factory=SeparationOptions)
    transcription: TranscriptionOptions = Field(default_factory=TranscriptionOptions)
    generation: GenerationOptions = Field(default_factory=GenerationOptions)
    v2a: V2AOptions = Field(default_factory=V2AOptions)
    adapter: AdapterSpec = Field(default_factory=AdapterSpec)
    data: DataConfig = Field(default_factory=DataConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)


# --------------------------------------------------------------------------- locating configs


def configs_dir() -> Path:
    """The folder of bundled configs: $AUDIOLORA_CONFIGS, the repo's `configs/`, or the wheel's copy."""
    env = os.environ.get("AUDIOLORA_CONFIGS")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    for candidate in (here.parents[1] / "configs", here / "configs"):
        if candidate.is_dir():
            return candidate
    return here / "configs"


def resolve_config_path(name: str | os.PathLike) -> Path:
    """A config given as a path, or as a name relative to the bundled configs folder."""
    path = Path(name)
    candidates = [path, path.with_suffix(".yaml")] if path.suffix == "" else [path]
    candidates += [configs_dir() / c for c in candidates]
    for c in candidates:
        if c.is_file():
            return c
    raise ConfigError(f"{name}: no such config file (give a path to a .yaml file)")


def available_presets() -> list[str]:
    folder = configs_dir() / "presets"
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def auto_preset() -> str:
    """Pick a memory preset from the detected GPU memory (`cpu` without a GPU)."""
    try:
        import torch

        if torch.cuda.is_available():
            gib = torch.cuda.get_device_properties(0).total_memory / 2**30
            for limit, name in ((10, "gpu-8gb"), (14, "gpu-12gb"), (20, "gpu-16gb")):
                if gib < limit:
                    return name
            return "gpu-24gb"
    except Exception:  # pragma: no cover - torch missing or broken CUDA
        pass
    return "cpu"


# --------------------------------------------------------------------------- YAML and merging


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}:{where}: {problem} (fix the YAML syntax)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: top level must be a mapping of sections, not {type(data).__name__}"
        )
    return data


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge; values of `update` win, nested mappings merge."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def load_yaml_with_defaults(path: Path, _stack: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a YAML config and merge its `defaults:` includes (paths relative to the file)."""
    path = path.resolve()
    if path in _stack:
        chain = " -> ".join(p.name for p in (*_stack, path))
        raise ConfigError(f"{path}: include cycle ({chain}); remove one of the defaults entries")
    data = _read_yaml(path)
    defaults = data.pop("defaults", None)
    if defaults is None:
        return data
    if not isinstance(defaults, list):
        raise ConfigError(f"{path}: defaults must be a list of config files")
    entries = list(defaults) if "_self_" in defaults else [*defaults, "_self_"]
    merged: dict[str, Any] = {}
    for entry in entries:
        if entry == "_self_":
            merged = deep_merge(merged, data)
            continue
        if not isinstance(entry, str):
            raise ConfigError(f"{path}: defaults entry {entry!r} must be a file name")
        inc = (
            (path.parent / entry).with_suffix(".yaml")
            if not entry.endswith(".yaml")
            else path.parent / entry
        )
        if not inc.is_file():
            raise ConfigError(f"{path}: included config {entry!r} not found (looked for {inc})")
        merged = deep_merge(merged, load_yaml_with_defaults(inc, (*_stack, path)))
    return merged


# --------------------------------------------------------------------------- dotted overrides


def split_key(key: str) -> list[str]:
    """Split a dotted key; quoted parts keep their dots: `adapter.layer_ranks."encoder.0.*"`."""
    parts: list[str] = []
    buf = ""
    quote: str | None = None
    for ch in key:
        if quote:
            if ch == quote:
                quote = None
            else:
                buf += ch
        elif ch in "\"'":
            quote = ch
        elif ch == ".":
            parts.append(buf)
            buf = ""
        else:
            buf += ch
    if quote:
        raise ConfigError(f"{key}: unclosed quote in override key")
    parts.append(buf)
    if any(p == "" for p in parts):
        raise ConfigError(f"{key}: empty part in override key (write section.key=value)")
    return parts


def parse_override(text: str) -> tuple[list[str], Any]:
    """`a.b=value` -> (["a", "b"], parsed value). Values are YAML: `8`, `5e-5`, `[a,b]`, `true`."""
    if "=" not in text:
        raise ConfigError(f"{text}: override must look like key=value (e.g. adapter.rank=8)")
    key, _, raw = text.partition("=")
    key = key.strip()
    if key.startswith("+"):
        key = key[1:]
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        raise ConfigError(
            f"{key}: cannot parse value {raw!r} (quote it, e.g. {key}='...')"
        ) from None
    # YAML 1.1 reads 5e-5 as a string; accept the notation users actually type.
    if isinstance(value, str):
        try:
            value = float(value) if any(c in value.lower() for c in "e.") else value
        except ValueError:
            pass
    return split_key(key), value


def set_dotted(data: dict[str, Any], parts: list[str], value: Any) -> None:
    node = data
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            where = ".".join(parts[: i + 1])
            raise ConfigError(f"{where}: is a value, not a section; cannot set {'.'.join(parts)}")
        node = child
    node[parts[-1]] = value


# --------------------------------------------------------------------------- validation


def _submodel_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    current: Any = model
    for part in loc:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(str(part))
        if field is None:
            return None
        current = field.annotation
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _describe(error: dict[str, Any]) -> str:
    loc = tuple(error["loc"])
    dotted = ".".join(str(p) for p in loc)
    if error["type"] == "extra_forbidden":
        if len(loc) == 2 and loc[0] == "model":
            if loc[1] == "base":
                return "model.base: renamed to model.name (a bundled name, hub id, folder or file)"
            for section in FAMILY_SECTIONS:
                if str(loc[1]) in RunConfig.model_fields[section].annotation.model_fields:
                    return f"{dotted}: family options moved to their own section: write {section}.{loc[1]}"
        parent = _submodel_at(RunConfig, loc[:-1])
        known = list(parent.model_fields) if parent else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.5)
        prefix = ".".join(str(p) for p in loc[:-1])
        hint = f" (did you mean {prefix + '.' if prefix else ''}{close[0]}?)" if close else ""
        if not hint and known:
            hint = f" (known keys: {', '.join(known)})"
        return f"{dotted}: unknown key{hint}"
    msg = error["msg"]
    got = error.get("input")
    if got is not None and not isinstance(got, dict | list):
        return f"{dotted}: {msg} (got {got!r})"
    return f"{dotted}: {msg}"


def validate_config(data: dict[str, Any], source: str = "") -> RunConfig:
    """Validate a merged dict into a RunConfig; errors become one ConfigError line."""
    where = f"{source}: " if source else ""
    try:
        config = RunConfig.model_validate(data)
    except ValidationError as exc:
        lines = [_describe(e) for e in exc.errors()]
        raise ConfigError(where + "; ".join(lines)) from None
    family = config.model.family
    for section in FAMILY_SECTIONS:
        if section != family and getattr(config, section).model_fields_set:
            key = sorted(getattr(config, section).model_fields_set)[0]
            raise ConfigError(
                f"{where}{section}.{key}: options of the {section} family, but model.family={family} "
                f"(remove the {section}: section or set model.family={section})"
            )
    return config


def load_config(
    path: str | os.PathLike | None, overrides: list[str] | tuple[str, ...] = ()
) -> RunConfig:
    """Load a YAML config (or the defaults when None), apply preset and dotted overrides, validate."""
    data: dict[str, Any] = {}
    source = ""
    if path is not None:
        resolved = resolve_config_path(path)
        data = load_yaml_with_defaults(resolved)
        source = str(path)
    parsed = [parse_override(o) for o in overrides]
    preset = data.get("preset")
    for parts, value in parsed:
        if parts == ["preset"]:
            preset = value
    if preset is not None:
        # `preset=gpu-16gb,songs-4-6` applies several in order; a preset's `by_adapter:` section
        # holds settings for adapter.kind lora / lokr (from the file or the overrides).
        names = [
            auto_preset() if p.strip() == "auto" else p.strip() for p in str(preset).split(",")
        ]
        kind = next((v for parts, v in parsed if parts == ["adapter", "kind"]), None)
        kind = kind or (data.get("adapter") or {}).get("kind") or "lora"
        for name in names:
            preset_file = configs_dir() / "presets" / f"{name}.yaml"
            if not preset_file.is_file():
                choices = available_presets()
                close = difflib.get_close_matches(name, choices, n=1)
                hint = (
                    f"did you mean {close[0]}?" if close else f"choose one of: {', '.join(choices)}"
                )
                raise ConfigError(f"preset={name}: unknown preset ({hint})")
            preset_data = load_yaml_with_defaults(preset_file)
            by_adapter = preset_data.pop("by_adapter", None) or {}
            data = deep_merge(deep_merge(data, preset_data), by_adapter.get(kind) or {})
        data["preset"] = ",".join(names)
    for parts, value in parsed:
        if parts == ["preset"]:
            continue
        set_dotted(data, parts, value)
    return validate_config(data, source)


def dump_config(config: RunConfig) -> str:
    """The fully resolved config as YAML (what `config show` prints and runs save)."""
    others = {s for s in FAMILY_SECTIONS if s != config.model.family}
    return yaml.safe_dump(config.model_dump(mode="json", exclude=others), sort_keys=False)
