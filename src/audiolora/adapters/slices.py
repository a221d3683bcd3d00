"""Trainable slices: parts of frozen base tensors trained in full (e.g. the output channels of a new
separation stem), saved with the adapter.

Implemented as a torch parametrization: the base tensor stays frozen (`parametrizations.<p>.original`,
no gradient, no weight decay) and only the slice, a separate parameter, requires grad.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torch.nn.utils import parametrize

from ..errors import AudioloraError
from .targets import base_of

SLICE_PREFIX = "audiolora_slices."


class TrainableSlice(nn.Module):
    """Replace `index` along `dim` of the frozen tensor by the trainable `values`."""

    def __init__(self, dim: int, index: list[int], values: torch.Tensor):
        super().__init__()
        self.dim = dim
        self.register_buffer("index", torch.as_tensor(index, dtype=torch.long), persistent=False)
        self.values = nn.Parameter(values.detach().clone())

    def forward(self, original: torch.Tensor) -> torch.Tensor:
        return original.index_copy(self.dim, self.index, self.values.to(original.dtype))


def _owner(model: nn.Module, qualified: str) -> tuple[nn.Module, str]:
    module_name, _, pname = qualified.rpartition(".")
    try:
        module = base_of(model.get_submodule(module_name)) if module_name else model
    except AttributeError:
        raise AudioloraError(
            f"trainable slice {qualified!r}: no module {module_name!r} in the model"
        ) from None
    if not parametrize.is_parametrized(module, pname) and not isinstance(
        getattr(module, pname, None), torch.Tensor
    ):
        raise AudioloraError(
            f"trainable slice {qualified!r}: {module_name!r} has no tensor {pname!r}"
        )
    return module, pname


def add_trainable_slices(model: nn.Module, slices: dict[str, tuple[int, list[int]]]) -> None:
    """Make each `{qualified_param: (dim, indices)}` slice trainable, the rest of the tensor frozen."""
    for qualified, (dim, indices) in slices.items():
        module, pname = _owner(model, qualified)
        if parametrize.is_parametrized(module, pname):
            raise AudioloraError(f"trainable slice {qualified!r} is already set")
        tensor = getattr(module, pname)
        if not -tensor.dim() <= dim < tensor.dim():
            raise AudioloraError(
                f"trainable slice {qualified!r}: dim {dim} out of range for {tuple(tensor.shape)}"
            )
        if not indices or max(indices) >= tensor.shape[dim] or min(indices) < 0:
            raise AudioloraError(
                f"trainable slice {qualified!r}: indices {indices} out of range 0..{tensor.shape[dim] - 1}"
            )
        dim = dim % tensor.dim()
        values = tensor.detach().index_select(dim, torch.as_tensor(indices))
        parametrize.register_parametrization(
            module, pname, TrainableSlice(dim, list(indices), values), unsafe=True
        )
        module.parametrizations[pname].original.requires_grad_(False)


def slice_parameters(model: nn.Module, slices: dict) -> dict[str, nn.Parameter]:
    """`{SLICE_PREFIX + qualified: values parameter}` for the given slices."""
    out = {}
    for qualified in slices:
        module, pname = _owner(model, qualified)
        out[SLICE_PREFIX + qualified] = module.parametrizations[pname][0].values
    return out


def original_tensor(module: nn.Module, pname: str) -> torch.Tensor:
    """The frozen base tensor, with any trainable slice zeroed (so hashes ignore slice init)."""
    if parametrize.is_parametrized(module, pname):
        p = module.parametrizations[pname]
        t = p.original.detach()
        for fn in p:
            if isinstance(fn, TrainableSlice):
                t = t.index_fill(fn.dim, fn.index, 0)
        return t
    return getattr(module, pname).detach()


def bake_slices(model: nn.Module) -> None:
    """Write each trainable slice into its tensor and drop the parametrization (a plain tensor again)."""
    for module in list(model.modules()):
        if not parametrize.is_parametrized(module):
            continue
        for pname in list(module.parametrizations.keys()):
            if any(isinstance(fn, TrainableSlice) for fn in module.parametrizations[pname]):
                parametrize.remove_parametrizations(module, pname, leave_parametrized=True)
                getattr(module, pname).requires_grad_(False)
