"""Optimizers: AdamW, Adam (torch), AdamW 8-bit (bitsandbytes), Adafactor (transformers) and Prodigy
(prodigyopt), with a separate learning rate for tensors trained in full (e.g. new output heads)."""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn as nn

from ..errors import ConfigError
from .config import TrainConfig

# Prodigy estimates the step size itself; its lr is a multiplier on that estimate and 1.0 is the
# recommended value, so `train.lr` only sets the ratio for tensors trained in full.
PRODIGY_LR = 1.0


def param_groups(model: nn.Module, cfg: TrainConfig, full_names: Iterable[str] = ()) -> list[dict]:
    """Trainable parameters split into the adapter group (`lr`) and the full group (`full_lr`)."""
    full = set(full_names)
    adapter, whole = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (whole if name in full else adapter).append(p)
    if not adapter and not whole:
        raise ConfigError(
            "the model has no trainable parameters (check adapter.targets: nothing was adapted)"
        )
    base_lr = PRODIGY_LR if cfg.optimizer == "prodigy" else cfg.lr
    groups = []
    if adapter:
        groups.append({"params": adapter, "lr": base_lr, "name": "adapter"})
    if whole:
        ratio = (cfg.full_lr or cfg.lr) / cfg.lr
        groups.append({"params": whole, "lr": base_lr * ratio, "name": "full"})
    return groups


def effective_scheduler(cfg: TrainConfig) -> str:
    """The schedule actually used: Prodigy forces `constant` (it adapts its own step size)."""
    return "constant" if cfg.optimizer == "prodigy" else cfg.scheduler


def build_optimizer(
    groups: list[dict], cfg: TrainConfig, device: torch.device
) -> torch.optim.Optimizer:
    """The optimizer `train.optimizer` names, or a one-line error saying what to install."""
    name = cfg.optimizer
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    if name == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    if name == "adamw8bit":
        if device.type != "cuda":
            raise ConfigError(
                "train.optimizer=adamw8bit needs a CUDA GPU (bitsandbytes); on CPU use adamw or adafactor"
            )
        try:
            import bitsandbytes as bnb
        except ImportError:
            raise ConfigError(
                "train.optimizer=adamw8bit needs bitsandbytes: pip install 'audiolora[optim]' "
                "(or choose adamw / adafactor)"
            ) from None
        return bnb.optim.AdamW8bit(
            groups, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay
        )
    if name == "adafactor":
        try:
            from transformers.optimization import Adafactor
        except ImportError:
            raise ConfigError(
                "train.optimizer=adafactor needs transformers: pip install transformers"
            ) from None
        # External learning rate and schedule (ours), not Adafactor's own relative step sizes.
        return Adafactor(
            groups,
            lr=cfg.lr,
            scale_parameter=False,
            relative_step=False,
            warmup_init=False,
            weight_decay=cfg.weight_decay,
        )
    if name == "prodigy":
        try:
            from prodigyopt import Prodigy
        except ImportError:
            raise ConfigError(
                "train.optimizer=prodigy needs prodigyopt: pip install 'audiolora[optim]'"
            ) from None
        return Prodigy(groups, lr=PRODIGY_LR, betas=cfg.betas, weight_decay=cfg.weight_decay)
    raise ConfigError(f"train.optimizer={name}: unknown optimizer")
