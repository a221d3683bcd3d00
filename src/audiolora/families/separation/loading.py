"""Load separation bases the way demucs does, without arbitrary pickle.

- a demucs pretrained name (`htdemucs`, `htdemucs_6s`, `htdemucs_ft`, ...): fetched through demucs's
  HuggingFace loader (safetensors only); `htdemucs_ft:2` picks one member of a bag;
- a local `.th` file (`{klass, args, kwargs, state}` as demucs saves it), read with
  `torch.load(weights_only=True)` with only demucs's model classes allow-listed;
- a local `.safetensors` file in demucs's format (class and init arguments as JSON metadata);
- a local bag `.yaml` (demucs's bag definition) next to its members' files;
- the bundled `htdemucs-mini`.
"""

from __future__ import annotations

import json
import warnings
from fractions import Fraction
from pathlib import Path

import torch
import torch.nn as nn

from ...errors import AudioloraError

ASSETS = Path(__file__).resolve().parents[2] / "assets"
MINI_NAME = "htdemucs-mini"
MINI_FILE = ASSETS / "htdemucs_mini.safetensors"


def pretrained_names() -> tuple[str, ...]:
    """Names demucs knows (its bundled bag definitions)."""
    try:
        from demucs.pretrained import REMOTE_ROOT
    except ImportError:  # pragma: no cover - demucs is a hard dependency
        return ()
    return tuple(sorted(p.stem for p in Path(REMOTE_ROOT).glob("*.yaml")))


def _model_classes() -> list[type]:
    from demucs.demucs import Demucs
    from demucs.hdemucs import HDemucs
    from demucs.htdemucs import HTDemucs

    return [HTDemucs, HDemucs, Demucs]


def _build(klass, args, kwargs, state, origin: str) -> nn.Module:
    """Instantiate a demucs model and load its state (strictly: a silent partial load is a bug)."""
    allowed = {c.__name__: c for c in _model_classes()}
    if isinstance(klass, str):
        module, _, name = klass.rpartition(".")
        if not module.startswith("demucs.") or name not in allowed:
            raise AudioloraError(f"{origin}: model class {klass!r} is not a demucs model class")
        klass = allowed[name]
    if klass not in allowed.values():
        raise AudioloraError(f"{origin}: model class {klass!r} is not a demucs model class")
    import inspect

    params = inspect.signature(klass).parameters
    kwargs = {k: v for k, v in dict(kwargs).items() if k in params}  # as demucs: drop stale keys
    model = klass(*args, **kwargs)
    if state.get("__quantized"):
        raise AudioloraError(
            f"{origin}: diffq-quantized checkpoints are not supported; use an unquantized model"
        )
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise AudioloraError(
            f"{origin}: weights do not match the model's config ({first})"
        ) from None
    model.eval()
    return model


def load_th(path: Path) -> nn.Module:
    """A demucs `.th` package, loaded with weights_only=True and demucs's classes allow-listed."""
    with torch.serialization.safe_globals([*_model_classes(), Fraction]):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                package = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # pickle refused or corrupt file
            text = " ".join(str(exc).split())[:200]
            raise AudioloraError(
                f"{path}: not a demucs checkpoint that loads safely ({text}); re-export it as safetensors"
            ) from None
    if not isinstance(package, dict) or not {"klass", "args", "kwargs", "state"} <= set(package):
        raise AudioloraError(
            f"{path}: not a demucs model package (expected klass/args/kwargs/state)"
        )
    return _build(package["klass"], package["args"], package["kwargs"], package["state"], str(path))


def _decode(value):
    if isinstance(value, dict):
        if value.get("_type") == "fraction":
            return Fraction(value["numerator"], value["denominator"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def encode_init_value(value):
    """JSON form of a demucs init argument (fractions as demucs's hub files write them)."""
    if isinstance(value, Fraction):
        return {"_type": "fraction", "numerator": value.numerator, "denominator": value.denominator}
    if isinstance(value, (list, tuple)):
        return [encode_init_value(v) for v in value]
    if isinstance(value, dict):
        return {k: encode_init_value(v) for k, v in value.items()}
    return value


def read_safetensors_metadata(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception as exc:
        raise AudioloraError(f"{path}: not a readable safetensors file ({exc})") from None


def load_safetensors(path: Path) -> nn.Module:
    """A demucs-format safetensors file: tensors + `klass`/`args`/`kwargs` JSON metadata."""
    from safetensors.torch import load_file

    meta = read_safetensors_metadata(path)
    if "klass" not in meta or "kwargs" not in meta:
        raise AudioloraError(
            f"{path}: safetensors without demucs metadata (klass, args, kwargs); export it with "
            "`audiolora export --merge` or demucs's tools/export_hf.py"
        )
    if "structure" in meta:
        raise AudioloraError(f"{path}: quantized demucs states are not supported")
    state = load_file(str(path))
    args = _decode(json.loads(meta.get("args", "[]")))
    kwargs = _decode(json.loads(meta["kwargs"]))
    model = _build(meta["klass"], args, kwargs, state, str(path))
    if meta.get("audiolora_quantize") == "int8":
        model = quantize_int8(model)
    return model


def quantize_int8(model: nn.Module) -> nn.Module:
    """int8 dynamic quantization of the Linear layers (PyTorch's quantize_dynamic, CPU only).

    Convolutions have no dynamic int8 kernel in PyTorch, so the transformer's Linear layers are the
    part that changes; the rest stays float32.
    """
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantized = quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
    for attr in ("sources", "samplerate", "audio_channels", "segment"):
        if hasattr(model, attr):
            setattr(quantized, attr, getattr(model, attr))
    return quantized


def _member_file(folder: Path, sig: str) -> Path:
    for candidate in [
        folder / f"{sig}.safetensors",
        folder / f"{sig}.th",
        *sorted(folder.glob(f"{sig}-*.th")),
    ]:
        if candidate.is_file():
            return candidate
    raise AudioloraError(
        f"{folder}: bag member {sig} not found (expected {sig}.safetensors or {sig}-*.th)"
    )


def load_bag_yaml(path: Path, member: int | None = None) -> nn.Module:
    """A local bag definition (demucs's yaml) with its members next to it."""
    import yaml
    from demucs.apply import BagOfModels

    bag = yaml.safe_load(path.read_text())
    if not isinstance(bag, dict) or "models" not in bag:
        raise AudioloraError(f"{path}: not a demucs bag definition (no `models:` list)")
    sigs = list(bag["models"])
    if member is not None:
        return _pick(
            sigs, member, str(path), lambda s: load_file_model(_member_file(path.parent, s))
        )
    models = [load_file_model(_member_file(path.parent, s)) for s in sigs]
    return BagOfModels(models, bag.get("weights"), bag.get("segment"))


def _pick(items, member: int, origin: str, load):
    if not 0 <= member < len(items):
        raise AudioloraError(
            f"{origin}: member {member} does not exist (the bag has {len(items)}: 0..{len(items) - 1})"
        )
    return load(items[member])


def load_file_model(path: Path) -> nn.Module:
    suffix = path.suffix.lower()
    if suffix == ".th" or suffix == ".pt" or suffix == ".pth":
        return load_th(path)
    if suffix == ".safetensors":
        return load_safetensors(path)
    if suffix in (".yaml", ".yml"):
        return load_bag_yaml(path)
    raise AudioloraError(
        f"{path}: unknown model file type (expected .th, .safetensors or a bag .yaml)"
    )


def load_pretrained(name: str, member: int | None = None) -> nn.Module:
    """A demucs pretrained name through demucs's HuggingFace loader (safetensors, never pickle)."""
    from demucs.hf import get_hf_model

    try:
        bag = get_hf_model(name)
    except Exception as exc:
        reason = " ".join(str(exc).split())[:160]
        raise AudioloraError(
            f"{name}: cannot download demucs's pretrained weights ({type(exc).__name__}: {reason}); "
            f"check the network, or pass a local .th/.safetensors file, or use {MINI_NAME}"
        ) from None
    bag.eval()
    if member is not None:
        return _pick(list(bag.models), member, name, lambda m: m)
    return bag.models[0] if len(bag.models) == 1 else bag


def split_member(spec: str) -> tuple[str, int | None]:
    """`htdemucs_ft:2` -> ("htdemucs_ft", 2); anything else -> (spec, None)."""
    head, sep, tail = spec.rpartition(":")
    if sep and tail.isdigit() and head:
        return head, int(tail)
    return spec, None


def known_names() -> tuple[str, ...]:
    """Every name `load_separation_model` takes: the bundled mini base and demucs's names."""
    return (MINI_NAME, *pretrained_names())


def is_known_name(spec: str) -> bool:
    """True for `htdemucs-mini`, a demucs pretrained name, or `name:member` of one."""
    return split_member(spec)[0] in known_names()


def load_separation_model(spec: str) -> nn.Module:
    """A separation model (or bag) from a name, `name:member`, or a local file path."""
    name, member = split_member(spec)
    if name == MINI_NAME:
        if not MINI_FILE.is_file():
            raise AudioloraError(
                f"{MINI_NAME}: {MINI_FILE} is missing; run scripts/train_mini_base.py"
            )
        return load_safetensors(MINI_FILE)
    path = Path(name)
    if path.exists():
        if path.is_dir():
            raise AudioloraError(
                f"{path}: is a folder; give the model file (.th, .safetensors or bag .yaml)"
            )
        if member is not None and path.suffix in (".yaml", ".yml"):
            return load_bag_yaml(path, member)
        return load_file_model(path)
    if name in pretrained_names():
        return load_pretrained(name, member)
    raise AudioloraError(
        f"{spec}: no such model or file (names: {MINI_NAME}, {', '.join(pretrained_names())}; or a local file)"
    )


def single_model(model: nn.Module, origin: str) -> nn.Module:
    """The one model to adapt; a bag must be narrowed to one member first."""
    from demucs.apply import BagOfModels

    if isinstance(model, BagOfModels):
        if len(model.models) == 1:
            return model.models[0]
        raise AudioloraError(
            f"{origin}: is a bag of {len(model.models)} models; adapt one member, e.g. {origin}:0"
        )
    return model
