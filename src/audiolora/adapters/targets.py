"""Resolve shell-style glob targets against a model's qualified module names; refuse silent no-ops."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

import torch.nn as nn
from peft.tuners.tuners_utils import BaseTunerLayer

from ..errors import AudioloraError
from .layers import MHA_PARTS

# Layer types each adapter kind can adapt (PEFT's own plus audiolora's layers).
_BOTH = (
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.MultiheadAttention,
)
SUPPORTED = {"lora": (*_BOTH, nn.Embedding), "lokr": _BOTH}
# Virtual part names an nn.MultiheadAttention answers to (`out_proj` is its real child).
MHA_PART_NAMES = {"q": "q_proj", "k": "k_proj", "v": "v_proj", "out": "out_proj"}


@dataclass
class Targets:
    """What a spec selects: module names in definition order, and the MHA parts for each MHA."""

    names: list[str] = field(default_factory=list)
    mha_parts: dict[str, tuple[str, ...]] = field(default_factory=dict)


def base_of(module: nn.Module) -> nn.Module:
    """The original layer under any PEFT/audiolora adapter wrapper."""
    return module.get_base_layer() if isinstance(module, BaseTunerLayer) else module


def model_module_names(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) in definition order, hiding adapter internals (base_layer, lora_A, ...)."""
    out, hidden = [], []
    for name, module in model.named_modules():
        if not name or any(name.startswith(h + ".") for h in hidden):
            continue
        out.append((name, module))
        if isinstance(module, BaseTunerLayer):
            hidden.append(name)
    return out


def _closest(pattern: str, names: list[str]) -> str:
    stem = pattern.replace("*", "").replace("?", "").strip(".")
    close = difflib.get_close_matches(stem, names, n=3, cutoff=0.3)
    if not close:
        close = [n for n in names if stem and stem.split(".")[-1] in n][:3]
    if close:
        return f"closest module names: {', '.join(close)}"
    return "run `audiolora inspect MODEL` to list them"


def resolve_targets(
    model: nn.Module,
    patterns: list[str],
    exclude: list[str] = (),
    kind: str = "lora",
    shortcut: list[str] = (),
) -> Targets:
    """Adaptable modules matching any pattern and no exclude; one-line error for a useless pattern.

    A pattern that matches no module, or only modules of types `kind` cannot adapt, is an error
    naming the pattern and the closest module names (never a silent no-op). `shortcut` globs (the
    `attention` shortcut) need only select something together.
    """
    if shortcut:
        shortcut = [p for p in shortcut if p not in patterns]
        usable = _usable(model, shortcut, kind)
        if not usable:
            raise AudioloraError(
                f"adapter.attention matches no attention module ({', '.join(shortcut[:4])}, ...); "
                "use adapter.targets"
            )
        patterns = list(patterns) + usable
    if not patterns:
        raise AudioloraError(
            "adapter.targets is empty: give module globs (e.g. adapter.targets='[\"*.conv\"]') "
            "or set adapter.attention"
        )
    supported = SUPPORTED[kind]
    entries = model_module_names(model)
    candidates: dict[str, tuple[str, str | None]] = {}  # name -> (module name, mha part)
    kinds: dict[str, str] = {}
    for name, module in entries:
        base = base_of(module)
        kinds[name] = type(base).__name__
        if isinstance(base, nn.MultiheadAttention):
            for part, suffix in MHA_PART_NAMES.items():
                candidates[f"{name}.{suffix}"] = (name, part)
                kinds[f"{name}.{suffix}"] = f"MultiheadAttention.{part}"
            candidates[name] = (name, None)
        elif isinstance(base, supported) and not _inside_mha(name, candidates):
            candidates[name] = (name, None)
    all_names = list(kinds)
    selected: dict[str, None] = {}
    for pattern in patterns:
        hits = [n for n in all_names if fnmatchcase(n, pattern)]
        if not hits:
            raise AudioloraError(
                f"target pattern {pattern!r} matches no module ({_closest(pattern, all_names)})"
            )
        usable = [n for n in hits if n in candidates]
        if not usable:
            types = sorted({kinds[n] for n in hits})
            raise AudioloraError(
                f"target pattern {pattern!r} matches only modules {kind} cannot adapt "
                f"({', '.join(types)}; {_closest(pattern, list(candidates))})"
            )
        selected.update(dict.fromkeys(usable))
    chosen = [n for n in selected if not _excluded(n, exclude)]
    if not chosen:
        raise AudioloraError(f"adapter.exclude {list(exclude)} leaves no target module")
    result = Targets()
    for name in chosen:
        module_name, part = candidates[name]
        if part is None and module_name not in result.mha_parts and _is_mha(model, module_name):
            parts = tuple(
                p for p in MHA_PARTS if not _excluded(f"{module_name}.{MHA_PART_NAMES[p]}", exclude)
            )
            result.mha_parts[module_name] = parts
        elif part is not None:
            old = result.mha_parts.get(module_name, ())
            result.mha_parts[module_name] = tuple(p for p in MHA_PARTS if p in old or p == part)
        if module_name not in result.names:
            result.names.append(module_name)
    return result


def _usable(model: nn.Module, globs: list[str], kind: str) -> list[str]:
    """The globs of `globs` that select at least one adaptable module."""
    out = []
    for g in globs:
        try:
            resolve_targets(model, [g], (), kind)
        except AudioloraError:
            continue
        out.append(g)
    return out


def _excluded(name: str, exclude) -> bool:
    """Excluding a module excludes everything under it (and an MHA's q/k/v/out parts)."""
    parts = name.split(".")
    prefixes = [".".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatchcase(p, e) for p in prefixes for e in exclude)


def _inside_mha(name: str, candidates: dict) -> bool:
    parent = name.rsplit(".", 1)[0]
    # the parent is an nn.MultiheadAttention when its `q_proj` is a virtual part (a plain attention
    # module's real q_proj Linear is not: its out_proj is adaptable on its own)
    return any(candidates.get(n, (None, None))[1] is not None for n in (name, f"{parent}.q_proj"))


def _is_mha(model: nn.Module, name: str) -> bool:
    return isinstance(base_of(model.get_submodule(name)), nn.MultiheadAttention)


def match_modules(model: nn.Module, patterns: list[str], exclude: list[str] = ()) -> list[str]:
    """Names of modules matching any pattern (fnmatch: `*` also matches dots) and no exclude."""
    names = [n for n, _ in model_module_names(model)]
    for p in patterns:
        if not any(fnmatchcase(n, p) for n in names):
            raise AudioloraError(f"target pattern {p!r} matches no module ({_closest(p, names)})")
    return [
        n
        for n in names
        if any(fnmatchcase(n, p) for p in patterns) and not any(fnmatchcase(n, e) for e in exclude)
    ]
