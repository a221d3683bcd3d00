"""Live-check: every adapted module must influence the model's output, else attaching fails."""

from __future__ import annotations

import torch
import torch.nn as nn
from peft.tuners.tuners_utils import BaseTunerLayer

from ..errors import AudioloraError
from .targets import model_module_names


def _float_tensors(obj) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj] if obj.is_floating_point() or obj.is_complex() else []
    if isinstance(obj, dict):
        return [t for v in obj.values() for t in _float_tensors(v)]
    if isinstance(obj, (list, tuple)):
        return [t for v in obj for t in _float_tensors(v)]
    if hasattr(obj, "to_tuple"):  # transformers / diffusers ModelOutput
        return _float_tensors(obj.to_tuple())
    if hasattr(obj, "sample"):  # diffusers output dataclasses
        return _float_tensors(obj.sample)
    return []


def _layer_params(layer: nn.Module, adapter_name: str) -> list[nn.Parameter]:
    out = []
    for attr in layer.adapter_layer_names:
        container = getattr(layer, attr, None)
        if container is not None and adapter_name in container:
            item = container[adapter_name]
            out += list(item.parameters()) if isinstance(item, nn.Module) else [item]
    return out


def dead_modules(
    model: nn.Module, example_inputs: tuple, adapter_name: str = "default"
) -> list[str]:
    """Adapted modules whose adapter gets no gradient from the output on `example_inputs`.

    Runs one forward/backward in eval mode on a random projection of every float output; an adapter
    whose forward is never called (e.g. the out_proj of a fused nn.MultiheadAttention adapted as a
    separate Linear) or whose output is unused gets no gradient. Leaves every parameter's grad and
    requires_grad, and the model's mode, as found (the backward also reaches trainable parameters
    outside the adapters, e.g. a new stem's slices, whose grads must not leak into a first step).
    """
    layers = [
        (n, m)
        for n, m in model_module_names(model)
        if isinstance(m, BaseTunerLayer) and _layer_params(m, adapter_name)
    ]
    params = {n: _layer_params(m, adapter_name) for n, m in layers}
    flags = {p: p.requires_grad for ps in params.values() for p in ps}
    saved = {p: p.grad for p in model.parameters()}
    was_training = model.training
    model.eval()
    try:
        for p in flags:
            p.requires_grad_(True)
            p.grad = None
        with torch.enable_grad():
            outputs = _float_tensors(model(*example_inputs))
            if not outputs:
                raise AudioloraError(
                    "live-check: the model returned no float tensor to check against"
                )
            gen = torch.Generator().manual_seed(0)
            loss = sum(
                (o.real if o.is_complex() else o)
                .mul(torch.randn(o.shape, generator=gen).to(o.device, o.real.dtype))
                .sum()
                for o in outputs
                if o.requires_grad
            )
            if isinstance(loss, torch.Tensor):
                loss.backward()
        dead = [
            n
            for n, ps in params.items()
            if not any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in ps)
        ]
    finally:
        for p, grad in saved.items():
            p.grad = grad
        for p, flag in flags.items():
            p.requires_grad_(flag)
        model.train(was_training)
    return dead


def check_live(model: nn.Module, example_inputs: tuple, adapter_name: str = "default") -> None:
    """Raise AudioloraError naming every adapted module that does not influence the output."""
    dead = dead_modules(model, example_inputs, adapter_name)
    if dead:
        shown = ", ".join(dead[:8]) + (f" and {len(dead) - 8} more" if len(dead) > 8 else "")
        raise AudioloraError(
            f"{len(dead)} adapted module(s) do not influence the output: {shown} (the forward never "
            "reads them, e.g. a fused attention reading its weights directly, or their output is "
            "unused); remove them from adapter.targets or add them to adapter.exclude"
        )
