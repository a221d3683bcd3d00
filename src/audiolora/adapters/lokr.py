"""LoKr: PEFT's LoKr for Linear/Conv1d/Conv2d, plus ConvTranspose1d/2d and nn.MultiheadAttention,
which PEFT and LyCORIS lack, and convolutions with a non-zero padding_mode, whose padding PEFT's LoKr
gets wrong.

PEFT's LoKr tuner has no custom-module hook (its `layers_mapping` is a class attribute and
`_create_new_module` accepts only Linear/Conv), so `AudioLoKrModel` subclasses it with more mapping
entries; everything else (factorisation rules, init, merge, state-dict layout) is PEFT's.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import torch
import torch.nn as nn
from peft.tuners.lokr import LoKrModel
from peft.tuners.lokr.layer import Conv1d as PeftLoKrConv1d
from peft.tuners.lokr.layer import Conv2d as PeftLoKrConv2d
from peft.tuners.lokr.layer import LoKrLayer, factorization, make_kron
from peft.tuners.tuners_utils import BaseTunerLayer
from peft.utils.other import get_pattern_key

from .layers import MHA_PARTS, MhaAdapterMixin, conv_transpose_like, mha_base_weights

_CONV_TRANSPOSE = (nn.ConvTranspose1d, nn.ConvTranspose2d)


def factor_plan(rows: int, cols: int, r: int, config) -> tuple[tuple, bool, bool]:
    """PEFT's LoKr factorisation of a rows x cols weight at rank r: ((a, b), (c, d)) with rows = a*b
    and cols = c*d, and whether w1 (a x c) and w2 (b x d) are stored full (else as rank-r pairs)."""
    f = config.decompose_factor
    (a, b), (c, d) = factorization(rows, f), factorization(cols, f)
    use_w1 = not (config.decompose_both and r < max(a, c) / 2)
    use_w2 = r >= max(b, d) / 2
    return ((a, b), (c, d)), use_w1, use_w2


def _initialiser(init_weights):
    if init_weights == "lycoris":
        return LoKrLayer.reset_adapter_parameters_lycoris_way
    if init_weights:
        return LoKrLayer.reset_adapter_parameters
    return LoKrLayer.reset_adapter_parameters_random


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
        shape, use_w1, use_w2 = factor_plan(rows, cols, r, config)
        use_cp = config.use_effective_conv2d and any(k != 1 for k in kernel) and len(kernel) == 2
        self.create_adapter_parameters(adapter_name, r, (*shape, *kernel), use_w1, use_w2, use_cp)
        _initialiser(config.init_weights)(self, adapter_name)
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


class MultiheadAttentionLoKr(MhaAdapterMixin, LoKrLayer):
    """LoKr on nn.MultiheadAttention with q, k, v and out each adaptable and each acting.

    Each part is factorised like a Linear of its weight's shape, by PEFT's rules. Every factor store
    (`lokr_w1`, `lokr_w2_a`, ...) maps adapter -> {part: tensor}, so saved keys read
    `<mha>.lokr_w1.q`. Forward, merge and unmerge are the LoRA layer's (MhaAdapterMixin).
    """

    def __init__(
        self,
        base_layer: nn.MultiheadAttention,
        adapter_name: str,
        config,
        r: int = 0,
        alpha: float = 0.0,
        parts: tuple[str, ...] = MHA_PARTS,
        **kwargs: Any,
    ):
        try:
            super().__init__(base_layer)
        except ValueError:
            # PEFT's in/out-feature probe, the last step of LycorisLayer.__init__, refuses an MHA
            # with its own kdim/vdim; the per-part factors below handle it.
            if base_layer._qkv_same_embed_dim:
                raise
        for attr in self.adapter_layer_names:
            setattr(self, attr, nn.ModuleDict())
        self.in_features = self.out_features = base_layer.embed_dim
        self._active_adapter = adapter_name
        self.update_layer(adapter_name, r, alpha, config=config, parts=parts)

    def update_layer(
        self, adapter_name: str, r: int, alpha: float, config, parts=MHA_PARTS, **kwargs
    ) -> None:
        if r <= 0:
            raise ValueError(f"rank must be positive, got {r}")
        if config.rank_dropout:
            raise ValueError("LoKr rank_dropout is not supported on nn.MultiheadAttention")
        self.r[adapter_name] = r
        self.alpha[adapter_name] = alpha
        self.scaling[adapter_name] = alpha / r
        self.rank_dropout[adapter_name] = config.rank_dropout
        self.module_dropout[adapter_name] = config.module_dropout
        self.rank_dropout_scale[adapter_name] = config.rank_dropout_scale
        weights = mha_base_weights(self.get_base_layer())
        # PEFT's own factor creation and init run with `self` standing for one adapter's
        # {part: tensor} stores, so the shapes and init are exactly PEFT's Linear ones.
        stores = SimpleNamespace(**{a: nn.ParameterDict() for a in self.adapter_layer_names})
        for part in parts:
            shape, use_w1, use_w2 = factor_plan(*weights[part].shape, r, config)
            LoKrLayer.create_adapter_parameters(stores, part, r, shape, use_w1, use_w2, False)
            _initialiser(config.init_weights)(stores, part)
        for attr, store in vars(stores).items():
            if len(store):
                getattr(self, attr)[adapter_name] = store
        self._move_adapter_to_device_of_base_layer(adapter_name)
        self.set_adapter(self.active_adapters, inference_mode=config.inference_mode)

    def _holds(self, adapter: str) -> bool:
        return adapter in self._available_adapters

    def _active(self) -> list[str]:
        return [a for a in self.active_adapters if a in self._available_adapters]

    def _in_this_forward(self, adapter: str) -> bool:
        # PEFT LoKr's module dropout: the whole adapter sits out a training step. Drawn only when
        # it is on, so a module_dropout=0 adapter leaves the global RNG (dropout, ...) untouched.
        if not self.training or not self.module_dropout[adapter]:
            return True
        return bool(torch.rand(1) > self.module_dropout[adapter])

    def factors(self, adapter: str, part: str) -> dict[str, nn.Parameter]:
        """One part's factor tensors, by store name (`lokr_w1` or `lokr_w1_a`/`_b`, same for w2)."""
        out = {}
        for attr in self.adapter_layer_names:
            store = getattr(self, attr)
            if adapter in store and part in store[adapter]:
                out[attr] = store[adapter][part]
        return out

    def parts(self, adapter: str) -> list[str]:
        """The parts `adapter` adapts, in q, k, v, out order."""
        return [p for p in MHA_PARTS if self.factors(adapter, p)]

    def get_delta_weight(
        self, adapter_name: str, *, apply_rank_dropout: bool = False
    ) -> dict[str, torch.Tensor]:
        """Per-part weight changes {part: scaling * kron(w1, w2)}; only the parts adapted."""
        out = {}
        for part in self.parts(adapter_name):
            f = self.factors(adapter_name, part)
            w1 = f["lokr_w1"] if "lokr_w1" in f else f["lokr_w1_a"] @ f["lokr_w1_b"]
            w2 = f["lokr_w2"] if "lokr_w2" in f else f["lokr_w2_a"] @ f["lokr_w2_b"]
            out[part] = make_kron(w1, w2, self.scaling[adapter_name])
        return out

    def _get_delta_activations(self, adapter_name: str, x: torch.Tensor, *args, **kwargs):
        raise NotImplementedError("attention adapters act through the adapted weights (forward)")

    def __repr__(self) -> str:
        return "audiolora.lokr." + super().__repr__()


class AudioLoKrModel(LoKrModel):
    """PEFT's LoKr tuner with ConvTranspose1d/2d and nn.MultiheadAttention added to the layers it
    can adapt. `mha_parts` ({module name: parts}) says which of q, k, v, out each MHA adapts (all
    when a name is missing)."""

    layers_mapping = {
        **LoKrModel.layers_mapping,
        nn.ConvTranspose1d: ConvTransposeLoKr,
        nn.ConvTranspose2d: ConvTransposeLoKr,
        nn.MultiheadAttention: MultiheadAttentionLoKr,
    }

    def __init__(self, model, config, adapter_name="default", mha_parts=None, **kwargs):
        self._mha_parts = {k: tuple(v) for k, v in (mha_parts or {}).items()}  # read by injection
        super().__init__(model, config, adapter_name, **kwargs)

    def _create_and_replace(self, config, adapter_name, target, target_name, parent, current_key):
        base = target.get_base_layer() if isinstance(target, BaseTunerLayer) else target
        if not isinstance(base, nn.MultiheadAttention):
            super()._create_and_replace(
                config, adapter_name, target, target_name, parent, current_key
            )
            return
        # PEFT's LoKr passes only r and alpha on; an MHA layer also needs its parts.
        kwargs = {
            "r": config.rank_pattern.get(
                get_pattern_key(config.rank_pattern, current_key), config.r
            ),
            "alpha": config.alpha_pattern.get(
                get_pattern_key(config.alpha_pattern, current_key), config.alpha
            ),
            "parts": self._mha_parts.get(current_key, MHA_PARTS),
        }
        if isinstance(target, MultiheadAttentionLoKr):
            target.update_layer(adapter_name, config=config, **kwargs)
        else:
            new = MultiheadAttentionLoKr(target, adapter_name, config, **kwargs)
            self._replace_module(parent, target_name, new, target)

    @classmethod
    def _create_new_module(cls, config, adapter_name: str, target: nn.Module, **kwargs):
        base = target.get_base_layer() if hasattr(target, "get_base_layer") else target
        if isinstance(base, _CONV_TRANSPOSE):
            return ConvTransposeLoKr(target, adapter_name=adapter_name, config=config, **kwargs)
        if isinstance(base, (nn.Conv1d, nn.Conv2d)) and base.padding_mode != "zeros":
            cls_ = PaddingModeConv1dLoKr if isinstance(base, nn.Conv1d) else PaddingModeConv2dLoKr
            return cls_(target, adapter_name=adapter_name, config=config, **kwargs)
        return super()._create_new_module(config, adapter_name, target, **kwargs)
