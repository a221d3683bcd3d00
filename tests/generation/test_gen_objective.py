"""The flow-matching objective against hand computations on fixed tensors."""

import torch

from audiolora.families.generation.objective import (
    cfg_dropout_mask,
    flow_matching_loss,
    noisy_latents_and_target,
    sample_sigmas,
    shift_sigmas,
)


def test_loss_equals_hand_computation():
    x0 = torch.tensor([[[1.0, -2.0], [0.5, 0.0]]])  # [B=1, T=2, C=2]
    noise = torch.tensor([[[0.0, 1.0], [-1.0, 2.0]]])
    sigma = torch.tensor([0.25])
    x_t, target = noisy_latents_and_target(x0, noise, sigma)
    # diffusers FlowMatchEuler: x_t = (1 - s) x0 + s noise, velocity = noise - x0
    assert torch.allclose(x_t, torch.tensor([[[0.75, -1.25], [0.125, 0.5]]]))
    assert torch.allclose(target, torch.tensor([[[-1.0, 3.0], [-1.5, 2.0]]]))
    prediction = torch.zeros_like(target)
    assert torch.isclose(
        flow_matching_loss(prediction, target), torch.tensor((1 + 9 + 2.25 + 4) / 4)
    )
    mask = torch.tensor([[1, 0]])
    assert torch.isclose(flow_matching_loss(prediction, target, mask), torch.tensor((1 + 9) / 2))


def test_an_euler_step_with_the_true_velocity_lands_on_the_data():
    """x_t + (0 - s) * v recovers x0: the target is the velocity the stock scheduler integrates."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    x0, noise = torch.randn(2, 5, 3), torch.randn(2, 5, 3)
    sigma = torch.tensor([0.6, 0.6])
    x_t, v = noisy_latents_and_target(x0, noise, sigma)
    sched = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1, shift=1.0)
    sched.set_timesteps(sigmas=[0.6])
    out = sched.step(v, sched.timesteps[0], x_t, return_dict=False)[0]
    assert torch.allclose(out, x0, atol=1e-5)


def test_shift_and_logit_normal_sigmas():
    s = torch.tensor([0.0, 0.5, 1.0])
    assert torch.allclose(shift_sigmas(s, 3.0), torch.tensor([0.0, 0.75, 1.0]))
    g = torch.Generator().manual_seed(0)
    plain = sample_sigmas(4000, g, mean=0.0, std=1.0, shift=1.0)
    assert plain.min() > 0 and plain.max() < 1 and abs(float(plain.median()) - 0.5) < 0.03
    shifted = sample_sigmas(4000, torch.Generator().manual_seed(0), shift=3.0)
    assert float(shifted.median()) > 0.7  # shift 3 moves the median 0.5 to 0.75


def test_cfg_dropout_rate():
    drop = cfg_dropout_mask(10000, 0.1, torch.Generator().manual_seed(1))
    assert abs(float(drop.float().mean()) - 0.1) < 0.015
    assert not cfg_dropout_mask(10, 0.0, None).any()
