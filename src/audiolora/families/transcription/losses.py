"""Basic Pitch's training losses (basic_pitch/models.py, Bittner et al. 2022): binary cross-entropy
with label smoothing on note and contour, class-balanced BCE on onsets (onsets are rare: the
positive and negative cells are averaged separately and mixed by `positive_weight`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _smooth(target: torch.Tensor, label_smoothing: float) -> torch.Tensor:
    return target * (1 - label_smoothing) + 0.5 * label_smoothing


def bce(logits: torch.Tensor, target: torch.Tensor, label_smoothing: float = 0.2) -> torch.Tensor:
    """Mean BCE on logits with Keras-style label smoothing."""
    return F.binary_cross_entropy_with_logits(logits, _smooth(target, label_smoothing))


def balanced_bce(
    logits: torch.Tensor,
    target: torch.Tensor,
    label_smoothing: float = 0.2,
    positive_weight: float = 0.95,
) -> torch.Tensor:
    """(1 - w) * mean BCE over negative cells + w * mean BCE over positive cells."""
    cell = F.binary_cross_entropy_with_logits(
        logits, _smooth(target, label_smoothing), reduction="none"
    )
    positive = target > 0
    negative_loss = cell[~positive].mean() if (~positive).any() else cell.new_zeros(())
    positive_loss = cell[positive].mean() if positive.any() else cell.new_zeros(())
    return (1 - positive_weight) * negative_loss + positive_weight * positive_loss


def transcription_losses(
    logits: dict[str, torch.Tensor],
    targets: dict[str, torch.Tensor],
    label_smoothing: float = 0.2,
    onset_positive_weight: float | None = None,
    weights: dict[str, float] | None = None,
) -> dict[str, torch.Tensor]:
    """Per-output losses and their weighted sum under "loss"; onsets use the class-balanced BCE
    when `onset_positive_weight` is given, plain BCE otherwise."""
    weights = weights or {"note": 1.0, "onset": 1.0, "contour": 1.0}
    parts = {
        "note": bce(logits["note"], targets["note"], label_smoothing),
        "contour": bce(logits["contour"], targets["contour"], label_smoothing),
        "onset": (
            bce(logits["onset"], targets["onset"], label_smoothing)
            if onset_positive_weight is None
            else balanced_bce(
                logits["onset"], targets["onset"], label_smoothing, onset_positive_weight
            )
        ),
    }
    parts["loss"] = sum(weights.get(k, 1.0) * v for k, v in parts.items())
    return parts
