"""export_lycoris output loads with LyCORIS's own loader and gives the audiolora model's output."""

from __future__ import annotations

import copy
import json
import logging

import lycoris
import pytest
import torch
import torch.nn as nn
from lycoris.logging import logger

from audiolora import AdapterSpec, attach_adapter, export_lycoris
from audiolora.errors import AudioloraError

logger.setLevel(logging.WARNING)  # LyCORIS logs every load at INFO


class Net(nn.Module):
    """The layer types LyCORIS's LoKr supports, plus a ConvTranspose1d it does not."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.lin = nn.Linear(64, 48)
        self.conv = nn.Conv1d(48, 32, 3, padding=1, groups=2)
        self.conv2 = nn.Conv2d(8, 12, 3, padding=1)
        self.dec = nn.ConvTranspose1d(12, 4, 4, stride=2)

    def forward(self, x):
        h = self.conv(self.lin(x).transpose(1, 2))  # (n, 32, t)
        h = self.conv2(h.reshape(h.shape[0], 8, 4, -1))  # (n, 12, 4, t)
        return self.dec(h.mean(2))


X = torch.randn(2, 10, 64, generator=torch.Generator().manual_seed(1))


def _adapted(rank: int, decompose_both: bool, targets=("lin", "conv", "conv2")):
    model = Net()
    base = copy.deepcopy(model)
    spec = AdapterSpec(
        kind="lokr", rank=rank, alpha=3, targets=list(targets), lokr_decompose_both=decompose_both
    )
    attach_adapter(model, spec)
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn(p.shape, generator=gen) * 0.3)
    return model, base


# rank 1-2: rank-r factor pairs; 8: PEFT stores w2 full (Conv1d's in PEFT's own kron layout)
@pytest.mark.parametrize("rank", [1, 2, 8])
@pytest.mark.parametrize("decompose_both", [False, True])
def test_lycoris_loader_reproduces_the_adapter(rank, decompose_both, tmp_path):
    model, base = _adapted(rank, decompose_both)
    folder = export_lycoris(model, tmp_path / "lyco")
    network, _ = lycoris.create_lycoris_from_weights(
        1.0, str(folder / "lokr_weights.safetensors"), base
    )
    assert sorted(m.lora_name for m in network.loras) == [
        "lycoris_conv",
        "lycoris_conv2",
        "lycoris_lin",
    ]
    network.apply_to()
    with torch.no_grad():
        ours, theirs = model(X), base(X)
        assert (ours - Net()(X)).abs().max() > 1e-3  # the adapter changes the output
        torch.testing.assert_close(theirs, ours, atol=1e-5 * ours.abs().max().item(), rtol=1e-5)


def test_layers_lycoris_cannot_load_are_refused_or_listed(tmp_path):
    model, base = _adapted(2, False, targets=("lin", "dec"))
    with pytest.raises(AudioloraError, match=r"LyCORIS cannot load LoKr on 1 module\(s\) \(dec"):
        export_lycoris(model, tmp_path / "refused")
    assert not (tmp_path / "refused").exists()
    folder = export_lycoris(model, tmp_path / "lyco", skip_unsupported=True)
    config = json.loads((folder / "lokr_config.json").read_text())
    assert config["skipped"] == ["dec"] and config["target_modules"] == ["lin"]
    network, weights = lycoris.create_lycoris_from_weights(
        1.0, str(folder / "lokr_weights.safetensors"), base
    )
    assert [m.lora_name for m in network.loras] == ["lycoris_lin"]
    assert not any(k.startswith("lycoris_dec") for k in weights)
