"""Torch containers whose fused inference path reads their children's weights directly.

`nn.TransformerEncoderLayer` in eval mode without grad runs `torch._transformer_encoder_layer_fwd`,
which reads `linear1.weight` / `linear2.weight` (and the attention's projections) itself, so an
adapter on those Linears would be silently ignored. The attention's own adapter already turns that
path off while it acts (`layers.MultiheadAttentionLora._qkv_same_embed_dim`); for the feed-forward
Linears, the engine attaches a forward pre-hook that changes nothing, because torch takes the
unfused path whenever a hook is attached to the layer or any of its children.
"""

from __future__ import annotations

import torch.nn as nn
from peft.tuners.tuners_utils import BaseTunerLayer

MARK = "_audiolora_unfused"


def _no_op(module: nn.Module, args: tuple) -> None:
    return None


def keep_fused_paths_off(model: nn.Module) -> list[str]:
    """Hook every nn.TransformerEncoderLayer whose linear1/linear2 carries an adapter; the names."""
    hooked = []
    for name, module in model.named_modules():
        if not isinstance(module, nn.TransformerEncoderLayer) or getattr(module, MARK, False):
            continue
        if any(
            isinstance(getattr(module, part, None), BaseTunerLayer)
            for part in ("linear1", "linear2")
        ):
            module.register_forward_pre_hook(_no_op)
            setattr(module, MARK, True)
            hooked.append(name)
    return hooked
