"""Resolve shell-style glob targets against a model's qualified module names."""

from __future__ import annotations

import difflib
from fnmatch import fnmatchcase

import torch.nn as nn

from ..errors import AudioloraError


def match_modules(model: nn.Module, patterns: list[str], exclude: list[str] = ()) -> list[str]:
    """Names of modules matching any pattern (fnmatch: `*` also matches dots) and no exclude."""
    names = [n for n, _ in model.named_modules() if n]
    unmatched = [p for p in patterns if not any(fnmatchcase(n, p) for n in names)]
    if unmatched:
        p = unmatched[0]
        close = difflib.get_close_matches(p.replace("*", ""), names, n=3, cutoff=0.3)
        hint = (
            f"closest module names: {', '.join(close)}"
            if close
            else "run `audiolora inspect` to list them"
        )
        raise AudioloraError(f"target pattern {p!r} matches no module ({hint})")
    return [
        n
        for n in names
        if any(fnmatchcase(n, p) for p in patterns) and not any(fnmatchcase(n, e) for e in exclude)
    ]
