"""LoRA layers PEFT lacks, registered through PEFT's custom-module mechanism.

PEFT 0.21 gets three layer kinds audio models use wrong or not at all, so they are written here:

- ConvTranspose1d/2d (HT-Demucs decoders, ACE-Step's output layer): unsupported in PEFT and LyCORIS.
- Conv1d/2d with dilation, groups or a non-zero padding mode: PEFT builds its LoRA conv without the
  base layer's dilation (forward crashes on a length mismatch), mixes channels across groups (cannot
  merge) and ignores padding_mode. `ConvLora` copies every geometry argument of the base layer into
  the low-rank path, so the adapter is exactly a low-rank change of the base kernel.
- nn.MultiheadAttention: PEFT adapts in_proj and out_proj only together; LoRA on out_proj alone is a
  silent no-op because the fused attention reads the weight directly. `MultiheadAttentionLora` adds a
  separate low-rank delta to each of q, k, v and out and runs the base module's own forward with the
  adapted weights (same path, same kernels: exact at init), so every part acts.

Plain convolutions and Linear layers stay on PEFT's own classes so that such adapters load with plain
`peft.PeftModel.from_pretrained`.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from peft.tuners.lora.layer import LoraLayer
from peft.tuners.tuners_utils import check_adapters_to_merge

_CONV = (nn.Conv1d, nn.Conv2d)
_CONV_TRANSPOSE = (nn.ConvTranspose1d, nn.ConvTranspose2d)
MHA_PARTS = ("q", "k", "v", "out")


def needs_own_conv(layer: nn.Module) -> bool:
    """True for convolutions PEFT's LoRA gets wrong (transposed, dilated, grouped, non-zero padding)."""
    if isinstance(layer, _CONV_TRANSPOSE):
        return True
    if isinstance(layer, _CONV):
        return (
            any(d != 1 for d in layer.dilation)
            or layer.groups > 1
            or layer.padding_mode != "zeros"
            or isinstance(layer.padding, str)
        )
    return False


def _scaling(alpha: float, r: int, use_rslora: bool) -> float:
    return alpha / math.sqrt(r) if use_rslora else alpha / r


def same_layout(tensor: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """`tensor` (an adapted weight) with the exact strides of `like` (the base weight).

    `W + delta` gets the strides torch picks for the sum, which can differ from W's: a channels-last
    Conv2d weight with one input channel (strides (49, 1, 7, 1), Basic Pitch's note_conv) comes back
    contiguous, and the convolution then runs in another memory format with other kernels, so a
    zero delta no longer reproduces the base bit for bit. A differentiable copy restores the layout.
    """
    if tensor.stride() == like.stride():
        return tensor
    return torch.empty_like(like, dtype=tensor.dtype).copy_(tensor)


def conv_transpose_like(
    base: nn.Module, x: torch.Tensor, weight: torch.Tensor, bias, output_size=None
) -> torch.Tensor:
    """`base` (a ConvTranspose1d/2d) applied with another weight and bias: same stride, padding,
    output padding (incl. from `output_size`), groups and dilation."""
    dims = weight.dim() - 2
    output_padding = base._output_padding(
        x, output_size, base.stride, base.padding, base.kernel_size, dims, base.dilation
    )
    fn = F.conv_transpose1d if dims == 1 else F.conv_transpose2d
    return fn(
        x, weight, bias, base.stride, base.padding, output_padding, base.groups, base.dilation
    )


class _OwnLoraLayer(nn.Module, LoraLayer):
    """Shared merge/unmerge/forward logic for the layers below (PEFT conventions, our delta)."""

    def _set_adapter_state(self, adapter_name: str, r: int, lora_alpha: float, config) -> None:
        """PEFT's per-adapter bookkeeping (rank, alpha, scaling, dropout) for one of our layers."""
        self.r[adapter_name] = r
        self.lora_alpha[adapter_name] = lora_alpha
        self.use_rslora[adapter_name] = bool(config.use_rslora)
        self.scaling[adapter_name] = _scaling(lora_alpha, r, config.use_rslora)
        self.lora_bias[adapter_name] = False
        self.use_dora[adapter_name] = False
        p = config.lora_dropout
        self.lora_dropout[adapter_name] = nn.Dropout(p) if p > 0 else nn.Identity()

    def merge(self, safe_merge: bool = False, adapter_names: list[str] | None = None) -> None:
        for name in check_adapters_to_merge(self, adapter_names):
            if name not in self.lora_A:
                continue
            self._add_delta(name, sign=1.0, safe=safe_merge)
            self.merged_adapters.append(name)

    def unmerge(self) -> None:
        while self.merged_adapters:
            name = self.merged_adapters.pop()
            if name in self.lora_A:
                self._add_delta(name, sign=-1.0, safe=False)

    def _add_delta(self, name: str, sign: float, safe: bool) -> None:
        weight = self.get_base_layer().weight
        delta = self.get_delta_weight(name).to(weight.dtype)
        if safe and not torch.isfinite(delta).all():
            raise ValueError(f"NaNs in the merged weights of adapter {name!r}")
        weight.data += sign * delta

    def _active(self) -> list[str]:
        return [a for a in self.active_adapters if a in self.lora_A]


class ConvLora(_OwnLoraLayer):
    """LoRA for Conv1d/2d (any stride, padding, padding_mode, dilation, groups) and ConvTranspose1d/2d.

    A is a convolution of the base layer's own class and geometry with `r` output channels; B is a
    pointwise convolution with the base layer's groups, so the product stays block-diagonal per group
    and merges into the base kernel exactly. The rank must be a multiple of `groups`.
    """

    def __init__(
        self,
        base_layer: nn.Module,
        adapter_name: str,
        config,
        r: int = 0,
        lora_alpha: float = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        LoraLayer.__init__(self, base_layer)
        self.in_features = base_layer.in_channels
        self.out_features = base_layer.out_channels
        self._transposed = isinstance(base_layer, _CONV_TRANSPOSE)
        self._active_adapter = adapter_name
        self.update_layer(adapter_name, r, lora_alpha=lora_alpha, config=config)

    def update_layer(self, adapter_name: str, r: int, lora_alpha: float, config, **kwargs) -> None:
        base = self.get_base_layer()
        if r <= 0:
            raise ValueError(f"rank must be positive, got {r}")
        if r % base.groups:
            raise ValueError(
                f"rank {r} is not a multiple of groups={base.groups} of this {type(base).__name__}"
            )
        self._set_adapter_state(adapter_name, r, lora_alpha, config)
        self.lora_A[adapter_name] = self._make_a(base, r)
        pointwise = nn.Conv1d if base.weight.dim() == 3 else nn.Conv2d
        self.lora_B[adapter_name] = pointwise(
            r, self.out_features, 1, groups=base.groups, bias=False
        )
        if config.init_lora_weights:
            self.reset_lora_parameters(adapter_name, config.init_lora_weights)
        self._move_adapter_to_device_of_base_layer(adapter_name)
        self.set_adapter(self.active_adapters, inference_mode=config.inference_mode)

    def _make_a(self, base: nn.Module, r: int) -> nn.Module:
        common = dict(
            kernel_size=base.kernel_size,
            stride=base.stride,
            padding=base.padding,
            dilation=base.dilation,
            groups=base.groups,
            bias=False,
        )
        # type(base) may be a parametrized subclass (trainable slices): build the plain torch class.
        if self._transposed:
            cls = nn.ConvTranspose1d if isinstance(base, nn.ConvTranspose1d) else nn.ConvTranspose2d
            return cls(base.in_channels, r, output_padding=base.output_padding, **common)
        cls = nn.Conv1d if isinstance(base, nn.Conv1d) else nn.Conv2d
        return cls(base.in_channels, r, padding_mode=base.padding_mode, **common)

    def get_delta_weight(self, adapter: str) -> torch.Tensor:
        """The change of the base kernel this adapter makes (same shape as the base weight)."""
        base = self.get_base_layer()
        g = base.groups
        a = self.lora_A[adapter].weight
        b = self.lora_B[adapter].weight.flatten(1)  # (out, r/g)
        out = self.out_features
        b = b.reshape(g, out // g, -1)  # (g, out/g, r/g)
        if self._transposed:
            # A: (in, r/g, *k), block j of input channels feeds block j of A's outputs.
            a = a.reshape(g, a.shape[0] // g, *a.shape[1:])  # (g, in/g, r/g, *k)
            delta = torch.einsum("gor,girk->giok", b, a.flatten(3))
            delta = delta.reshape(base.weight.shape[0], out // g, *a.shape[3:])
        else:
            # A: (r, in/g, *k), rows in g blocks of r/g.
            a = a.reshape(g, a.shape[0] // g, *a.shape[1:])  # (g, r/g, in/g, *k)
            delta = torch.einsum("gor,grik->goik", b, a.flatten(3))
            delta = delta.reshape(out, a.shape[2], *a.shape[3:])
        return delta * self.scaling[adapter]

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        if self.disable_adapters:
            if self.merged:
                self.unmerge()
            return self.base_layer(x, *args, **kwargs)
        if self.merged or not self._active():
            return self.base_layer(x, *args, **kwargs)
        if _weight_delta_is_cheaper(self):
            return self._forward_with_weight(x, *args, **kwargs)
        result = self.base_layer(x, *args, **kwargs)
        for name in self._active():
            a, b = self.lora_A[name], self.lora_B[name]
            h = self.lora_dropout[name](x.to(a.weight.dtype))
            h = a(h, *args, **kwargs) if self._transposed else a(h)
            # scale B's (tiny) kernel rather than its full-size output: one activation pass less
            delta = b._conv_forward(h, b.weight * self.scaling[name], None)
            result = result + delta.to(result.dtype)
        return result

    def _forward_with_weight(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        base = self.get_base_layer()
        weight = base.weight
        for name in self._active():
            weight = weight + self.get_delta_weight(name).to(weight.dtype)
        weight = same_layout(weight, base.weight)
        if not self._transposed:
            return base._conv_forward(x, weight, base.bias)
        return conv_transpose_like(base, x, weight, base.bias, output_size)

    def __repr__(self) -> str:
        return "audiolora." + super().__repr__()


class LinearLora(_OwnLoraLayer):
    """LoRA on a small nn.Linear, computed through the adapted weight (see `_weight_delta_is_cheaper`).

    Same tensors and keys as PEFT's lora.Linear (lora_A: in -> r, lora_B: r -> out), so a saved
    adapter also loads with plain PEFT.
    """

    def __init__(
        self,
        base_layer: nn.Module,
        adapter_name: str,
        config,
        r: int = 0,
        lora_alpha: float = 1,
        **kwargs,
    ):
        super().__init__()
        LoraLayer.__init__(self, base_layer)
        self._active_adapter = adapter_name
        self.update_layer(adapter_name, r, lora_alpha=lora_alpha, config=config)

    def update_layer(self, adapter_name: str, r: int, lora_alpha: float, config, **kwargs) -> None:
        LoraLayer.update_layer(self, adapter_name, r, lora_alpha=lora_alpha, config=config)

    def get_delta_weight(self, adapter: str) -> torch.Tensor:
        return (self.lora_B[adapter].weight @ self.lora_A[adapter].weight) * self.scaling[adapter]

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        if self.disable_adapters and self.merged:
            self.unmerge()
        active = [] if (self.disable_adapters or self.merged) else self._active()
        base = self.get_base_layer()
        if not active:
            return base(x, *args, **kwargs)
        if not _weight_delta_is_cheaper(self):
            result = base(x)
            for name in active:
                h = self.lora_dropout[name](x.to(self.lora_A[name].weight.dtype))
                b = self.lora_B[name].weight * self.scaling[name]
                result = result + F.linear(self.lora_A[name](h), b).to(result.dtype)
            return result
        weight = base.weight
        for name in active:
            weight = weight + self.get_delta_weight(name).to(weight.dtype)
        return F.linear(x, same_layout(weight, base.weight), base.bias)

    def __repr__(self) -> str:
        return "audiolora." + super().__repr__()


def _adapter_size_ratio(base: nn.Module, r: int) -> float:
    """Low-rank factor size / weight size for rank `r` (the LoRA branch's relative cost)."""
    w = base.weight
    if isinstance(base, nn.Linear):
        return r * (w.shape[0] + w.shape[1]) / w.numel()
    k = int(torch.tensor(w.shape[2:]).prod()) if w.dim() > 2 else 1
    g = getattr(base, "groups", 1)
    if isinstance(base, _CONV_TRANSPOSE):
        a, b = w.shape[0] * (r // g) * k, base.out_channels * (r // g)
    else:
        a, b = r * w.shape[1] * k, w.shape[0] * (r // g)
    return (a + b) / w.numel()


# At or above this factor/weight size ratio the low-rank branch (3 passes: forward, input grad,
# weight grad, plus the output-sized add) costs more than one weight-gradient pass through the
# adapted weight W + s·BA, which is what the weight path costs on top of the frozen layer. Small,
# wide-resolution layers (HT-Demucs's first encoders, its dconv branches) take the weight path.
# Convolutions cross over much earlier than matmuls: oneDNN runs the r-channel convolutions of the
# branch far below its full-width throughput. Measured per HT-Demucs layer (forward + backward, CPU,
# 1 thread): the branch wins up to ratio 0.07-0.09 and loses from 0.10 (e.g. encoder.1.conv: weight
# path 50.6 ms, branch 58.3 ms, full fine-tuning 50.6 ms, frozen 34.6 ms).
WEIGHT_PATH_RATIO = 0.3  # nn.Linear
WEIGHT_PATH_RATIO_CONV = 0.1  # Conv / ConvTranspose


def weight_path_threshold(base: nn.Module) -> float:
    """The factor/weight size ratio from which `base` runs LoRA through the adapted weight."""
    return WEIGHT_PATH_RATIO if isinstance(base, nn.Linear) else WEIGHT_PATH_RATIO_CONV


def _weight_delta_is_cheaper(layer) -> bool:
    names = layer._active()
    if any(not isinstance(layer.lora_dropout[n], nn.Identity) for n in names):
        return False  # dropout acts on the branch's input only: needs the low-rank branch
    base = layer.get_base_layer()
    ratio = sum(_adapter_size_ratio(base, layer.r[n]) for n in names)
    return ratio >= weight_path_threshold(base)


def mha_weight_slots(base: nn.MultiheadAttention) -> dict[str, tuple[str, slice | None]]:
    """Where each part's projection weight lives in `base`: (parameter name, rows or None)."""
    e = base.embed_dim
    if base._qkv_same_embed_dim:
        slots = {p: ("in_proj_weight", slice(i * e, (i + 1) * e)) for i, p in enumerate("qkv")}
    else:
        slots = {p: (f"{p}_proj_weight", None) for p in "qkv"}
    slots["out"] = ("out_proj.weight", None)
    return slots


def mha_base_weights(base: nn.MultiheadAttention) -> dict[str, torch.Tensor]:
    """The q, k, v and out projection weights of `base` as views (writing to one writes the base)."""
    out = {}
    for part, (name, rows) in mha_weight_slots(base).items():
        tensor = base
        for attr in name.split("."):
            tensor = getattr(tensor, attr)
        out[part] = tensor if rows is None else tensor[rows]
    return out


def add_mha_deltas(
    base: nn.MultiheadAttention, deltas: dict[str, torch.Tensor], sign: float, safe: bool = False
) -> None:
    """Add `sign * delta` to each part's weight of `base` in place (merge / unmerge)."""
    weights = mha_base_weights(base)
    for part, delta in deltas.items():
        if safe and not torch.isfinite(delta).all():
            raise ValueError(f"NaNs in the merged {part} weights of an MHA adapter")
        weights[part].data += sign * delta.to(weights[part].dtype)


def _base_params(base: nn.MultiheadAttention, weights: dict[str, torch.Tensor]) -> dict:
    """{parameter name in `base`: tensor} for the adapted projection weights `weights`."""
    params = {"out_proj.weight": weights["out"]}
    if base._qkv_same_embed_dim:
        params["in_proj_weight"] = torch.cat([weights["q"], weights["k"], weights["v"]])
    else:
        params.update({f"{p}_proj_weight": weights[p] for p in "qkv"})
    return params


def _value_of(value: torch.Tensor | None, grad_path: torch.Tensor | None):
    """`value`'s numbers with `grad_path`'s gradient (a straight-through sum; `x - x` is exactly 0)."""
    if value is None or grad_path is None:
        return value
    return value + (grad_path - grad_path.detach())


class MhaAdapterMixin:
    """What every adapter layer on nn.MultiheadAttention shares (LoRA here, LoKr in lokr.py).

    The layer supplies `get_delta_weight(adapter) -> {part: delta}`, `_active()` (its active
    adapters) and `_holds(adapter)`; the mixin gives the MHA attributes outside code reads, a forward
    through the adapted weights, and per-part merge/unmerge.

    Exact at init (zero deltas) by construction: the forward is the base module's own forward
    (`torch.func.functional_call` with the adapted projection weights in place of its parameters),
    so it takes the same path the base takes - torch's fused eval fast path
    (`_native_multi_head_attention`) or the unfused `F.multi_head_attention_forward` - with the same
    shapes, the same packed in-projection and so the same kernels. The fused path has no backward:
    in eval mode with autograd on, where the frozen base would take it, the output carries the
    fused path's numbers and the unfused path's gradient (self-attention computed twice). A
    container's own fused path (nn.TransformerEncoderLayer's) stays off while an adapter acts (it
    would read the base weights): there the adapted layer runs its parts one by one, which equalled
    the fused layer bit for bit in the tests here but is not exact by construction (HT-Demucs's
    encoder layers have their own forward and never take that path).
    """

    # Attributes code outside reads from an nn.MultiheadAttention (nn.TransformerEncoderLayer's checks).
    embed_dim = property(lambda self: self.get_base_layer().embed_dim)
    num_heads = property(lambda self: self.get_base_layer().num_heads)
    batch_first = property(lambda self: self.get_base_layer().batch_first)
    head_dim = property(lambda self: self.get_base_layer().head_dim)
    in_proj_weight = property(lambda self: self.get_base_layer().in_proj_weight)
    in_proj_bias = property(lambda self: self.get_base_layer().in_proj_bias)
    out_proj = property(lambda self: self.get_base_layer().out_proj)
    merge_masks = property(lambda self: self.get_base_layer().merge_masks)

    def _acting(self, sample: bool = False) -> list[str]:
        """The adapters that change the output (active, held, not merged, not disabled); with
        `sample`, minus those LoKr's module dropout drops from this forward (it draws)."""
        if self.disable_adapters or self.merged:
            return []
        names = self._active()
        return [n for n in names if self._in_this_forward(n)] if sample else names

    def _adapted_weights(self, adapters: list[str]) -> dict[str, torch.Tensor]:
        """The q, k, v and out projection weights with the deltas of `adapters` added."""
        weights = mha_base_weights(self.get_base_layer())
        for name in adapters:
            for part, delta in self.get_delta_weight(name).items():
                weights[part] = weights[part] + delta.to(weights[part].dtype)
        base_weights = mha_base_weights(self.get_base_layer())
        return {part: same_layout(w, base_weights[part]) for part, w in weights.items()}
        return weights

    @property
    def _qkv_same_embed_dim(self) -> bool:
        # False while an adapter acts: a container's fused path (nn.TransformerEncoderLayer's
        # `_transformer_encoder_layer_fwd`) reads the base's projection weights, and its linear1 /
        # linear2 weights, directly and would bypass every adapter in the layer.
        if self._acting():
            return False
        return self.get_base_layer()._qkv_same_embed_dim

    def _in_this_forward(self, adapter: str) -> bool:
        """Whether `adapter` acts in this forward call (LoKr's module dropout overrides it)."""
        return True

    def merge(self, safe_merge: bool = False, adapter_names: list[str] | None = None) -> None:
        for name in check_adapters_to_merge(self, adapter_names):
            if self._holds(name):
                self._add_delta(name, sign=1.0, safe=safe_merge)
                self.merged_adapters.append(name)

    def unmerge(self) -> None:
        while self.merged_adapters:
            name = self.merged_adapters.pop()
            if self._holds(name):
                self._add_delta(name, sign=-1.0, safe=False)

    def _add_delta(self, name: str, sign: float, safe: bool) -> None:
        add_mha_deltas(self.get_base_layer(), self.get_delta_weight(name), sign, safe)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
        need_weights: bool = True,
        attn_mask: torch.Tensor | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ):
        base = self.get_base_layer()
        if self.disable_adapters and self.merged:
            self.unmerge()
        active = self._acting(sample=True)
        options = dict(
            key_padding_mask=key_padding_mask,
            need_weights=need_weights,
            attn_mask=attn_mask,
            average_attn_weights=average_attn_weights,
            is_causal=is_causal,
        )
        if not active:
            return base(query, key, value, **options)
        params = _base_params(base, self._adapted_weights(active))

        def run(tensors):
            return torch.func.functional_call(base, tensors, (query, key, value), options)

        needs_grad = any(t.requires_grad for t in (query, key, value, *params.values()))
        if (
            base.training
            or not torch.is_grad_enabled()
            or not needs_grad
            or not (query is key and key is value)  # torch's fast path is for self-attention only
        ):
            # the base's own decision (fused fast path or unfused) with the adapted weights
            return run(params)
        # Eval mode with autograd on: the frozen base, whose input needs no gradient, would take
        # torch's fused fast path, which has no backward. Its numbers, the unfused path's gradient.
        with torch.no_grad():
            x = query.detach()
            fused = torch.func.functional_call(
                base, {k: v.detach() for k, v in params.items()}, (x, x, x), options
            )
        unfused = run(params)
        return tuple(_value_of(v, g) for v, g in zip(fused, unfused, strict=True))


class MultiheadAttentionLora(MhaAdapterMixin, _OwnLoraLayer):
    """LoRA on nn.MultiheadAttention with q, k, v and out each adaptable and each acting.

    `lora_A[adapter]` / `lora_B[adapter]` are ModuleDicts keyed by part ("q", "k", "v", "out"), so the
    saved keys read `<mha>.lora_A.q.weight`. The forward is torch's functional attention with the
    adapted projection weights (the base MHA's own path would ignore them).
    """

    def __init__(
        self,
        base_layer: nn.MultiheadAttention,
        adapter_name: str,
        config,
        r: int = 0,
        lora_alpha: float = 1,
        parts: tuple[str, ...] = MHA_PARTS,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        LoraLayer.__init__(self, base_layer)
        self.in_features = self.out_features = base_layer.embed_dim
        self._active_adapter = adapter_name
        self.update_layer(adapter_name, r, lora_alpha=lora_alpha, config=config, parts=parts)

    def _holds(self, adapter: str) -> bool:
        return adapter in self.lora_A

    def _get_in_out_features(self, module: nn.Module) -> tuple[int, int]:
        # PEFT's probe refuses an MHA with its own kdim/vdim; the per-part factors handle it.
        return module.embed_dim, module.embed_dim

    def _part_dims(self, part: str) -> tuple[int, int]:
        base = self.get_base_layer()
        e = base.embed_dim
        return {"q": (e, e), "k": (base.kdim, e), "v": (base.vdim, e), "out": (e, e)}[part]

    def update_layer(
        self, adapter_name: str, r: int, lora_alpha: float, config, parts=MHA_PARTS, **kwargs
    ) -> None:
        if r <= 0:
            raise ValueError(f"rank must be positive, got {r}")
        self._set_adapter_state(adapter_name, r, lora_alpha, config)
        self.lora_A[adapter_name] = nn.ModuleDict(
            {k: nn.Linear(self._part_dims(k)[0], r, bias=False) for k in parts}
        )
        self.lora_B[adapter_name] = nn.ModuleDict(
            {k: nn.Linear(r, self._part_dims(k)[1], bias=False) for k in parts}
        )
        if config.init_lora_weights:
            for k in parts:
                nn.init.kaiming_uniform_(self.lora_A[adapter_name][k].weight, a=math.sqrt(5))
                nn.init.zeros_(self.lora_B[adapter_name][k].weight)
        self._move_adapter_to_device_of_base_layer(adapter_name)
        self.set_adapter(self.active_adapters, inference_mode=config.inference_mode)

    def _part_delta(self, adapter: str, part: str) -> torch.Tensor | None:
        if part not in self.lora_A[adapter]:
            return None
        a = self.lora_A[adapter][part].weight
        b = self.lora_B[adapter][part].weight
        return (b @ a) * self.scaling[adapter]

    def get_delta_weight(self, adapter: str) -> dict[str, torch.Tensor]:
        """Per-part weight changes {part: delta}; only the parts this adapter adapts."""
        return {p: d for p in MHA_PARTS if (d := self._part_delta(adapter, p)) is not None}

    def __repr__(self) -> str:
        return "audiolora." + super().__repr__()


def lora_dispatch(mha_parts: dict[str, tuple[str, ...]]):
    """The custom-module mapping for `LoraConfig._register_custom_module`.

    PEFT calls the mapped callable like a layer class and falls through to its own layers when it
    returns None, so plain convolutions keep PEFT's classes (plain-PEFT loadable) and only the cases
    PEFT gets wrong use ours.
    """

    def conv(target, adapter_name, config, **kwargs):
        base = target.get_base_layer() if hasattr(target, "get_base_layer") else target
        ratio = _adapter_size_ratio(base, kwargs["r"])
        small = ratio >= weight_path_threshold(base) and not config.lora_dropout
        if not (needs_own_conv(base) or small):
            return None
        return ConvLora(target, adapter_name, config, **_layer_kwargs(kwargs))

    def linear(target, adapter_name, config, **kwargs):
        base = target.get_base_layer() if hasattr(target, "get_base_layer") else target
        if (
            _adapter_size_ratio(base, kwargs["r"]) < weight_path_threshold(base)
            or config.lora_dropout
        ):
            return None
        return LinearLora(target, adapter_name, config, **_layer_kwargs(kwargs))

    def mha(target, adapter_name, config, **kwargs):
        parts = mha_parts.get(kwargs.get("target_name", ""), MHA_PARTS)
        return MultiheadAttentionLora(
            target, adapter_name, config, parts=parts, **_layer_kwargs(kwargs)
        )

    mapping = dict.fromkeys((*_CONV, *_CONV_TRANSPOSE), conv)
    mapping[nn.MultiheadAttention] = mha
    mapping[nn.Linear] = linear
    return mapping


def _layer_kwargs(kwargs: dict) -> dict:
    return {"r": kwargs["r"], "lora_alpha": kwargs["lora_alpha"]}
