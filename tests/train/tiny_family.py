"""A test-only Family: a tiny random-init HTDemucs (the real demucs class) with PEFT LoRA injected on
a few Conv/Linear layers and one output bias trained in full, on deterministic synthetic stems.

Hooks for tests (plain attributes, or environment variables in a subprocess):
`nan_calls` (training_loss call numbers that return NaN), `sigint_at_call`, and
TINY_FAMILY_SIGKILL_AT_CALL (the process kills itself with SIGKILL at that call).
"""

from __future__ import annotations

import json
import math
import os
import signal
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from peft import LoraConfig, inject_adapter_in_model
from safetensors.torch import save_file
from torch.utils.data import Dataset

from audiolora.families.base import Family
from audiolora.hub import load_model

TARGETS = [
    "encoder.0.rewrite",
    "tencoder.0.rewrite",
    "crosstransformer.layers.0.linear1",
    "crosstransformer.layers_t.0.linear2",
]
FULL = ["tdecoder.1.conv_tr.bias"]
LENGTH = 1024
SOURCES = 4


class SyntheticStems(Dataset):
    """Stereo stems of sines and decaying noise bursts; crops are random per (seed, epoch, index)
    for training and fixed for validation."""

    def __init__(self, size: int, seed: int, train: bool):
        self.size, self.seed, self.train, self.epoch = size, seed, train, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int):
        g = torch.Generator().manual_seed(
            self.seed * 7919 + index * 31 + (0 if self.train else 10**6)
        )
        t = torch.arange(2 * LENGTH) / 44100
        stems = []
        for k in range(SOURCES):
            freq = 80.0 * (k + 1) * (1 + torch.rand((), generator=g).item())
            phase = 2 * math.pi * torch.rand((), generator=g).item()
            tone = 0.3 * torch.sin(2 * math.pi * freq * t + phase)
            burst = 0.1 * torch.randn(2 * LENGTH, generator=g) * torch.exp(-t * (20 + 10 * k))
            stems.append(torch.stack([tone + burst, 0.8 * tone - burst]))
        stems = torch.stack(stems)
        if self.train:
            crop = torch.Generator().manual_seed(self.seed + 1000 * self.epoch + index)
            start = int(torch.randint(0, LENGTH, (1,), generator=crop))
        else:
            start = 0
        stems = stems[..., start : start + LENGTH]
        return stems.sum(0), stems


class TinySeparationFamily(Family):
    """Separation on the tiny HTDemucs with LoRA; loss is L1 between estimated and true stems."""

    name = "tiny-separation"
    train_size = 8
    val_size = 4

    def __init__(self, config):
        super().__init__(config)
        self.calls = 0
        self.nan_calls: set[int] = set()
        self.sigint_at_call: int | None = None
        self.sigkill_at_call = int(os.environ.get("TINY_FAMILY_SIGKILL_AT_CALL", "0")) or None
        self.train_size = int(os.environ.get("TINY_FAMILY_TRAIN_SIZE", self.train_size))

    def build_model(self) -> nn.Module:
        model = load_model("htdemucs-tiny")
        spec = self.config.adapter
        lora = LoraConfig(
            r=spec.rank, lora_alpha=spec.alpha, lora_dropout=spec.dropout, target_modules=TARGETS
        )
        model = inject_adapter_in_model(lora, model)
        for name, p in model.named_parameters():
            p.requires_grad = "lora_" in name or name in FULL
        return model

    def full_parameter_names(self, model: nn.Module) -> list[str]:
        return list(FULL)

    def datasets(self):
        seed = self.config.run.seed
        return SyntheticStems(self.train_size, seed, True), SyntheticStems(
            self.val_size, seed, False
        )

    def training_loss(self, model: nn.Module, batch) -> torch.Tensor:
        self.calls += 1
        if self.sigkill_at_call == self.calls:
            os.kill(os.getpid(), signal.SIGKILL)
        if self.sigint_at_call == self.calls:
            os.kill(os.getpid(), signal.SIGINT)
        mix, stems = batch
        loss = F.l1_loss(model(mix), stems)
        if self.calls in self.nan_calls:
            return loss * math.nan
        return loss

    def evaluate(self, model: nn.Module, dataset: Dataset) -> dict[str, float]:
        device = next(model.parameters()).device
        l1 = l2 = 0.0
        for i in range(len(dataset)):
            mix, stems = dataset[i]
            est = model(mix[None].to(device))
            l1 += F.l1_loss(est, stems[None].to(device)).item()
            l2 += F.mse_loss(est, stems[None].to(device)).item()
        return {"loss": l1 / len(dataset), "mse": l2 / len(dataset)}

    def save_adapter(self, model: nn.Module, path: Path) -> None:
        tensors = {
            n: p.detach().cpu().contiguous() for n, p in model.named_parameters() if p.requires_grad
        }
        save_file(tensors, str(Path(path) / "adapter_model.safetensors"))
        (Path(path) / "adapter_config.json").write_text(json.dumps({"targets": TARGETS}))
