"""Rank allocation (uniform, heuristic, gradient sensitivity) and progressive rank growth."""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
import torch.nn as nn

from ..errors import AudioloraError, ConfigError
from .spec import AdapterSpec, most_specific
from .targets import base_of, resolve_targets


def _width(module: nn.Module) -> int:
    """The layer's smaller side: a LoRA rank above it adds nothing."""
    if isinstance(module, nn.MultiheadAttention):
        return module.embed_dim
    w = getattr(module, "weight", None)
    if w is None:
        return 1 << 30
    if isinstance(module, (nn.ConvTranspose1d, nn.ConvTranspose2d)):
        return min(module.in_channels, module.out_channels)
    return min(w.shape[0], int(w[0].numel()))


def _groups(module: nn.Module) -> int:
    return getattr(module, "groups", 1) or 1


def _depth(name: str) -> int:
    m = re.search(r"(?:^|\.)(\d+)(?:\.|$)", name)
    return int(m.group(1)) if m else 0


def _fit(rank: int, module: nn.Module, spec: AdapterSpec) -> int:
    g = _groups(module) if spec.kind == "lora" else 1
    return max(g, math.ceil(rank / g) * g)


def compute_ranks(model: nn.Module, spec: AdapterSpec, names: list[str]) -> dict[str, int]:
    """Rank per target module under `spec.rank_mode` (see AdapterSpec's docstring for the rules)."""
    ranks = {}
    for name in names:
        module = base_of(model.get_submodule(name))
        pinned = most_specific(spec.layer_ranks, name)
        if spec.rank_mode == "heuristic" and pinned is None:
            r = round(spec.rank * spec.rank_growth ** _depth(name))
            r = min(max(r, spec.min_rank), spec.max_rank, _width(module))
        elif spec.rank_mode == "gradient" and pinned is None:
            raise ConfigError(
                f"adapter.rank_mode=gradient but no rank for {name}: run estimate_gradient_ranks() "
                "first and pass spec.with_ranks(ranks)"
            )
        else:
            r = int(pinned) if pinned is not None else spec.rank
        ranks[name] = _fit(max(1, r), module, spec)
    return ranks


def estimate_gradient_ranks(
    model: nn.Module,
    spec: AdapterSpec,
    batches: Iterable,
    loss_fn: Callable[[nn.Module, object], torch.Tensor],
    out_path: str | Path | None = None,
) -> dict[str, int]:
    """Ranks from gradient sensitivity: spread the budget over the targets in proportion to each
    target's mean gradient norm per weight (over `spec.gradient_batches` batches), within
    [min_rank, max_rank]. Writes `{module: rank}` as JSON to `out_path` when given.

    `loss_fn(model, batch)` returns a scalar loss. The model must not carry adapters yet; its
    requires_grad flags are restored afterwards.
    """
    targets = resolve_targets(
        model, spec.targets, spec.exclude, spec.kind, shortcut=spec.attention_globs()
    )
    modules = {n: base_of(model.get_submodule(n)) for n in targets.names}
    flags = {p: p.requires_grad for p in model.parameters()}
    for p in model.parameters():
        p.requires_grad_(False)
    weights = {n: [p for p in m.parameters() if p.dim() > 1] for n, m in modules.items()}
    for ps in weights.values():
        for p in ps:
            p.requires_grad_(True)
            p.grad = None
    seen = 0
    try:
        for batch in batches:
            if seen >= spec.gradient_batches:
                break
            loss = loss_fn(model, batch)
            loss.backward()
            seen += 1
        if not seen:
            raise AudioloraError("estimate_gradient_ranks: no batches given")
        score = {}
        for n, ps in weights.items():
            sq = sum(float(p.grad.pow(2).sum()) for p in ps if p.grad is not None)
            numel = sum(p.numel() for p in ps)
            score[n] = math.sqrt(sq / max(numel, 1))
    finally:
        for p, flag in flags.items():
            p.grad = None
            p.requires_grad_(flag)
    budget = spec.rank_budget or spec.rank * len(score)
    total = sum(score.values()) or 1.0
    ranks = {}
    for n, s in score.items():
        r = round(budget * s / total) if sum(score.values()) else spec.rank
        r = min(max(r, spec.min_rank), spec.max_rank, _width(modules[n]))
        ranks[n] = _fit(r, modules[n], spec)
    if out_path is not None:
        _write_json(Path(out_path), ranks)
    return ranks


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
    os.replace(tmp, path)


def _grow_linear_pair(a: nn.Module, b: nn.Module, new_rank: int, groups: int, a_out_dim: int):
    """New (A, B) modules of rank `new_rank`: old rows/columns kept per group, new A rows random,
    new B columns zero, so B @ A is unchanged."""
    wa, wb = a.weight.data, b.weight.data
    old = wa.shape[0] if a_out_dim == 0 else wa.shape[1] * groups
    if new_rank <= old:
        raise AudioloraError(f"grow_rank: new rank {new_rank} must exceed the current {old}")
    if new_rank % groups:
        raise AudioloraError(f"grow_rank: new rank {new_rank} is not a multiple of groups={groups}")
    extra = (new_rank - old) // groups
    bound = 1.0 / math.sqrt(max(1, wa[0].numel() if a_out_dim == 0 else wa[:, 0].numel()))
    if a_out_dim == 0:  # A: (r, ...) in g blocks of r/g rows
        blocks = wa.reshape(groups, old // groups, *wa.shape[1:])
        new = torch.empty(groups, extra, *wa.shape[1:], dtype=wa.dtype, device=wa.device)
        wa2 = torch.cat([blocks, new.uniform_(-bound, bound)], dim=1).reshape(
            new_rank, *wa.shape[1:]
        )
    else:  # ConvTranspose A: (in, r/g, *k); each group's new channels are appended per group
        new = torch.empty(wa.shape[0], extra, *wa.shape[2:], dtype=wa.dtype, device=wa.device)
        wa2 = torch.cat([wa, new.uniform_(-bound, bound)], dim=1)
    wb2 = torch.cat([wb, wb.new_zeros(wb.shape[0], extra, *wb.shape[2:])], dim=1)
    a2, b2 = _resized(a, wa2, new_rank, a_out_dim), _resized(b, wb2, new_rank, None)
    return a2, b2


def _resized(module: nn.Module, weight: torch.Tensor, rank: int, a_out_dim) -> nn.Module:
    import copy

    new = copy.copy(module)
    new._parameters = dict(module._parameters)
    new.weight = nn.Parameter(weight.contiguous(), requires_grad=module.weight.requires_grad)
    if isinstance(module, nn.Linear):
        if a_out_dim is None:
            new.in_features = rank
        else:
            new.out_features = rank
    elif a_out_dim is None:
        new.in_channels = rank
    else:
        new.out_channels = rank
    return new


class _LoKrFactors:
    """The LoKr factors of one Kronecker-factorised weight: a layer's, or one MHA part's."""

    def __init__(self, layer: nn.Module, adapter: str, part: str | None = None):
        self.layer, self.adapter, self.part = layer, adapter, part

    def get(self, attr: str) -> nn.Parameter | None:
        store = getattr(self.layer, attr)
        if self.adapter not in store:
            return None
        if self.part is None:
            return store[self.adapter]
        return store[self.adapter].get(self.part)

    def set(self, attr: str, tensor: torch.Tensor) -> None:
        store = getattr(self.layer, attr)
        param = nn.Parameter(tensor.contiguous())
        if self.part is None:
            store[self.adapter] = param
            return
        if self.adapter not in store:
            store[self.adapter] = nn.ParameterDict()
        store[self.adapter][self.part] = param

    def drop(self, attr: str) -> None:
        store = getattr(self.layer, attr)
        if self.part is None:
            del store[self.adapter]
            return
        del store[self.adapter][self.part]
        if not len(store[self.adapter]):
            del store[self.adapter]


def _lokr_weights(layer: nn.Module, adapter: str) -> list[tuple[_LoKrFactors, tuple[int, ...]]]:
    """(factors, kernel size) of each Kronecker-factorised weight of a LoKr layer."""
    from .lokr import MultiheadAttentionLoKr

    if isinstance(layer, MultiheadAttentionLoKr):
        return [(_LoKrFactors(layer, adapter, p), ()) for p in layer.parts(adapter)]
    return [(_LoKrFactors(layer, adapter), tuple(layer.get_base_layer().weight.shape[2:]))]


def _lokr_growth(factors: _LoKrFactors, new: int, kernel: tuple, where: str) -> dict[str, str]:
    """What growing to rank `new` does to each half ("w1", "w2") that has a rank: "pad", or "full"
    where PEFT's rule (full once rank >= half the factor's larger side) stores it full at `new`."""
    if factors.get("lokr_t2") is not None:
        raise AudioloraError(
            f"grow_rank: {where} uses LoKr's effective-conv (t2) factors; not grown"
        )
    plan = {}
    for half in ("w1", "w2"):
        a, b = factors.get(f"lokr_{half}_a"), factors.get(f"lokr_{half}_b")
        if a is None:
            continue  # stored full: no rank to grow
        side = max(a.shape[0], b.shape[1] // (math.prod(kernel) if half == "w2" else 1))
        if new < side / 2:
            plan[half] = "pad"
        elif half == "w2" and len(kernel) == 1:
            # PEFT lays out a full 3-D w2 (Conv1d, ConvTranspose1d) as kron(w2, w1) per tap, not
            # as the rank-r pair's kron(w1, w2): no full w2 has the same function.
            raise AudioloraError(
                f"grow_rank: rank {new} would make PEFT store {where}'s w2 factor full, which "
                f"changes its function for 1-D convolutions; grow to at most {(side - 1) // 2}"
            )
        else:
            plan[half] = "full"
    return plan


def _apply_lokr_growth(factors: _LoKrFactors, plan: dict, new: int, kernel: tuple) -> None:
    """Pad each rank-r pair to `new` (output-side columns zero, input-side rows random: the product is
    unchanged and both get gradients), or replace it by its product where PEFT stores it full."""
    for half, action in plan.items():
        a, b = factors.get(f"lokr_{half}_a"), factors.get(f"lokr_{half}_b")
        if action == "full":
            full = (a.data @ b.data).reshape(a.shape[0], -1, *(kernel if half == "w2" else ()))
            factors.drop(f"lokr_{half}_a")
            factors.drop(f"lokr_{half}_b")
            factors.set(f"lokr_{half}", full)
            continue
        extra = new - a.shape[1]
        rows = torch.empty(extra, b.shape[1], dtype=b.dtype, device=b.device)
        nn.init.kaiming_uniform_(rows, a=math.sqrt(5))
        factors.set(f"lokr_{half}_a", torch.cat([a.data, a.new_zeros(a.shape[0], extra)], dim=1))
        factors.set(f"lokr_{half}_b", torch.cat([b.data, rows], dim=0))


def _grow_lokr(model: nn.Module, record, new_rank: int, adapter_name: str) -> None:
    from peft.tuners.lokr.layer import LoKrLayer

    from .modules import tuner_layers

    layers = [
        (n, m)
        for n, m in tuner_layers(model)
        if isinstance(m, LoKrLayer) and adapter_name in m._available_adapters
    ]
    plans = []  # validate every layer before changing any
    for name, layer in layers:
        old = layer.r[adapter_name]
        if new_rank < old:
            raise AudioloraError(f"grow_rank: new rank {new_rank} must exceed the current {old}")
        for factors, kernel in _lokr_weights(layer, adapter_name):
            where = name if factors.part is None else f"{name}.{factors.part}"
            plans.append((factors, _lokr_growth(factors, new_rank, kernel, where), kernel))
    for factors, plan, kernel in plans:
        _apply_lokr_growth(factors, plan, new_rank, kernel)
    for name, layer in layers:
        # PEFT's LoKr scale is alpha / r: alpha grows with r so the scale (and function) stay
        layer.alpha[adapter_name] *= new_rank / layer.r[adapter_name]
        layer.r[adapter_name] = new_rank
        record.ranks[name] = new_rank
        record.alphas[name] = layer.alpha[adapter_name]


def grow_rank(model: nn.Module, new_rank: int, adapter_name: str = "default") -> nn.Module:
    """Grow a LoRA or LoKr adapter's rank everywhere to `new_rank`, keeping its function exactly.

    LoRA: new A rows are random and new B columns zero (B @ A unchanged). LoKr: each rank-r factor
    pair (w1_a/w1_b, w2_a/w2_b) gets zero output-side columns and random input-side rows; a factor
    stored full has no rank and stays; a pair that PEFT would store full at the new rank (rank >= half
    its larger side) becomes its product, except a 1-D convolution's w2 (refused: PEFT's full layout
    differs). Alpha is rescaled so the scaling alpha/r (alpha/sqrt(r) with rsLoRA) stays the same.
    """
    from .modules import adapters_of, freeze_all_but

    record = adapters_of(model).get(adapter_name)
    if record is None:
        raise AudioloraError(f"grow_rank: no adapter named {adapter_name!r}")
    if record.spec.get("kind") == "lokr":
        _grow_lokr(model, record, new_rank, adapter_name)
    else:
        _grow_lora(model, record, new_rank, adapter_name)
    record.spec["rank"] = new_rank
    record.spec["layer_ranks"] = {}
    record.spec["layer_alphas"] = {}
    record.spec["rank_mode"] = "uniform"
    freeze_all_but(model, [adapter_name])
    return model


def _grow_lora(model: nn.Module, record, new_rank: int, adapter_name: str) -> None:
    from peft.tuners.lora.layer import LoraLayer

    from .layers import ConvLora, MultiheadAttentionLora
    from .modules import tuner_layers

    for name, layer in tuner_layers(model):
        if not isinstance(layer, LoraLayer) or adapter_name not in layer.lora_A:
            continue
        old = layer.r[adapter_name]
        if new_rank == old:
            continue
        base = layer.get_base_layer()
        groups = _groups(base) if isinstance(layer, ConvLora) else 1
        a_out = 1 if isinstance(base, (nn.ConvTranspose1d, nn.ConvTranspose2d)) else 0
        if isinstance(layer, MultiheadAttentionLora):
            for part in list(layer.lora_A[adapter_name]):
                a, b = _grow_linear_pair(
                    layer.lora_A[adapter_name][part],
                    layer.lora_B[adapter_name][part],
                    new_rank,
                    1,
                    0,
                )
                layer.lora_A[adapter_name][part], layer.lora_B[adapter_name][part] = a, b
        else:
            a, b = _grow_linear_pair(
                layer.lora_A[adapter_name], layer.lora_B[adapter_name], new_rank, groups, a_out
            )
            layer.lora_A[adapter_name], layer.lora_B[adapter_name] = a, b
        factor = math.sqrt(new_rank / old) if layer.use_rslora.get(adapter_name) else new_rank / old
        layer.lora_alpha[adapter_name] = layer.lora_alpha[adapter_name] * factor
        layer.r[adapter_name] = new_rank
        record.ranks[name] = new_rank
        record.alphas[name] = layer.lora_alpha[adapter_name]
