"""The one-layer container the adapter layer tests wrap each layer case in."""

import torch.nn as nn


class One(nn.Module):
    """Container for one layer; MHA cases run self-attention."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer = layer
        self.attention = isinstance(layer, nn.MultiheadAttention)

    def forward(self, x):
        if self.attention:
            return self.layer(x, x, x, need_weights=False)[0]
        return self.layer(x)
