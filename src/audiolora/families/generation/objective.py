"""The flow-matching objective exactly as diffusers' FlowMatchEulerDiscreteScheduler samples it.

Convention (diffusers' `scale_noise` / Euler `step`): a latent at noise level sigma in [0, 1] is
`x_t = (1 - sigma) * x0 + sigma * noise`, the network predicts the velocity `v = noise - x0`, and a
sampling step moves `x + (sigma_next - sigma) * v`. An adapter trained on this target therefore
works unchanged in the stock pipelines (ACE-Step feeds sigma itself as the timestep in [0, 1]).
"""

from __future__ import annotations

import torch


def shift_sigmas(sigma: torch.Tensor, shift: float) -> torch.Tensor:
    """The time shift every flow-matching pipeline applies: shift*s / (1 + (shift - 1)*s)."""
    if shift == 1.0:
        return sigma
    return shift * sigma / (1 + (shift - 1) * sigma)


def sample_sigmas(
    batch: int,
    generator: torch.Generator | None,
    mean: float = 0.0,
    std: float = 1.0,
    shift: float = 1.0,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Noise levels [B] from a logit-normal distribution (SD3's), then the model's shift."""
    u = torch.randn(batch, generator=generator, device="cpu") * std + mean
    return shift_sigmas(torch.sigmoid(u), shift).to(device)


def noisy_latents_and_target(
    x0: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_t, velocity target) for clean latents `x0` [B, ...], `noise` like it and `sigma` [B]."""
    s = sigma.to(x0.dtype).view(-1, *([1] * (x0.dim() - 1)))
    return (1 - s) * x0 + s * noise, noise - x0


def flow_matching_loss(
    prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean squared velocity error; `mask` [B, T] (1 = real frame) ignores padded latent frames."""
    err = (prediction.float() - target.float()).pow(2)
    if mask is None:
        return err.mean()
    m = mask.to(err.dtype)
    while m.dim() < err.dim():
        m = m.unsqueeze(-1)
    m = m.expand_as(err)
    return (err * m).sum() / m.sum().clamp_min(1.0)


def cfg_dropout_mask(batch: int, p: float, generator: torch.Generator | None) -> torch.Tensor:
    """[B] booleans: True where a sample's conditioning is replaced by the null embedding."""
    if p <= 0:
        return torch.zeros(batch, dtype=torch.bool)
    return torch.rand(batch, generator=generator) < p
