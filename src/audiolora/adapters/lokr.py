"""LoKr: PEFT's LoKr for Linear/Conv1d/Conv2d, plus ConvTranspose1d/2d, which PEFT and LyCORIS lack,
and convolutions with a non-zero padding_mode, whose padding PEFT's LoKr gets wrong.

PEFT's LoKr tuner has no custom-module hook (its `layers_mapping` is a class attribute and
`_create_new_module` accepts only Linear/Conv), so `AudioLoKrModel` subclasses it with one more
mapping entry; everything else (factorisation, init, merge, state-dict layout) is PEFT's.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
from peft.tuners.lokr import LoKrModel
from peft.tuners.lokr.layer import Conv1d as PeftLoKrConv1d
from peft.tuners.lokr.layer import Conv2d as PeftLoKrConv2d
from peft.tuners.lokr.layer import LoKrLayer, factorization

from .layers import conv_transpose_like

_CONV_TRANSPOSE = (nn.ConvTranspose1d, nn.ConvTranspose2d)


class ConvTransposeLoKr(LoKrLayer):
    """LoKr on ConvTranspose1d/2d: the Kronecker delta has the base kernel's (in, out/g, *k) shape."""

    def __init__(
        self,
        base_layer: nn.Module,
        adapter_name: str,
        config,
        r: int = 0,
        alpha: float = 0.0,
        **kwargs: Any,
    ):
        super().__init__(base_layer)
        self.in_features = base_layer.in_channels
        self.out_features = base_layer.out_channels
        self._active_adapter = adapter_name
        self.update_layer(adapter_name, r, alpha, config=config)

    def update_layer(self, adapter_name: str, r: int, alpha: float, config, **kwargs) -> None:
        if r <= 0:
            raise ValueError(f"rank must be positive, got {r}")
        self.r[adapter_name] = r
        self.alpha[adapter_name] = alpha
        self.scaling[adapter_name] = alpha / r
        self.rank_dropout[adapter_name] = config.rank_dropout
        self.module_dropout[adapter_name] = config.module_dropout
        self.rank_dropout_scale[adapter_name] = config.rank_dropout_scale
        weight = self.get_base_layer().weight
        rows, cols, *kernel = weight.shape
        f = config.decompose_factor
        shape = (factorization(rows, f), factorization(cols, f), *kernel)
        use_w1 = not (config.decompose_both and r < max(shape[0][0], shape[1][0]) / 2)
        use_w2 = r >= max(shape[0][1], shape[1][1]) / 2
        use_cp = config.use_effective_conv2d and any(k != 1 for k in kernel) and len(kernel) == 2
        self.create_adapter_parameters(adapter_name, r, shape, use_w1, use_w2, use_cp)
        if config.init_weights == "lycoris":
            self.reset_adapter_parameters_lycoris_way(adapter_name)
        elif config.init_weights:
            self.reset_adapter_parameters(adapter_name)
        else:
            self.reset_adapter_parameters_random(adapter_name)
        self._move_adapter_to_device_of_base_layer(adapter_name)
        self.set_adapter(self.active_adapters, inference_mode=config.inference_mode)

    def _get_delta_activations(self, adapter_name: str, x: torch.Tensor, *args, **kwargs):
        dropout = self.training and bool(self.rank_dropout[adapter_name])
        delta = self.get_delta_weight(adapter_name, apply_rank_dropout=dropout)
        base = self.get_base_layer()
        return conv_transpose_like(base, x.to(delta.dtype), delta, None, kwargs.get("output_size"))

    def __repr__(self) -> str:
        return "audiolora.lokr." + super().__repr__()


class _PaddingModeMixin:
    # PEFT's LoKr convs call F.conv with the base's padding as zeros, ignoring padding_mode
    # (reflect/replicate/circular); the base layer's own _conv_forward applies it correctly.
    def _get_delta_activations(self, adapter_name: str, x: torch.Tensor, *args, **kwargs):
        dropout = self.training and bool(self.rank_dropout[adapter_name])
        delta = self.get_delta_weight(adapter_name, apply_rank_dropout=dropout)
        return self.get_base_layer()._conv_forward(x.to(delta.dtype), delta, None)


class PaddingModeConv1dLoKr(_PaddingModeMixin, PeftLoKrConv1d):
    """PEFT's LoKr Conv1d, with the base layer's padding_mode honoured."""


class PaddingModeConv2dLoKr(_PaddingModeMixin, PeftLoKrConv2d):
    """PEFT's LoKr Conv2d, with the base layer's padding_mode honoured."""


class AudioLoKrModel(LoKrModel):
    """PEFT's LoKr tuner with ConvTranspose1d/2d added to the layers it can adapt."""

    layers_mapping = {
        **LoKrModel.layers_mapping,
        nn.ConvTranspose1d: ConvTransposeLoKr,
        nn.ConvTranspose2d: ConvTransposeLoKr,
    }

    @classmethod
    def _create_new_module(cls, config, adapter_name: str, target: nn.Module, **kwargs):
        base = target.get_base_layer() if hasattr(target, "get_base_layer") else target
        if isinstance(base, _CONV_TRANSPOSE):
            return ConvTransposeLoKr(target, adapter_name=adapter_name, config=config, **kwargs)
        if isinstance(base, (nn.Conv1d, nn.Conv2d)) and base.padding_mode != "zeros":
            cls_ = PaddingModeConv1dLoKr if isinstance(base, nn.Conv1d) else PaddingModeConv2dLoKr
            return cls_(target, adapter_name=adapter_name, config=config, **kwargs)
        return super()._create_new_module(config, adapter_name, target, **kwargs)
