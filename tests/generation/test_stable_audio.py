"""Stable Audio (StableAudioPipeline) on a tiny random-init pipeline loaded from its own folder."""

from __future__ import annotations

import math
from pathlib import Path

import genkit
import numpy as np
import pytest
import soundfile as sf
import torch
from genkit import SR, make_clips

from audiolora.cli import main
from audiolora.errors import ConfigError

CONFIG = "configs/generation/stable_audio_lora.yaml"


@pytest.fixture(scope="module")
def tiny_sa(tmp_path_factory) -> Path:
    from audiolora.families.generation.builders import stable_audio_pipeline

    folder = tmp_path_factory.mktemp("sa") / "tiny-stable-audio"
    stable_audio_pipeline(samplerate=SR).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def adapter(tiny_sa, tmp_path_factory):
    """A LoRA adapter on the tiny DiT's attention with nonzero B (as after training)."""
    from diffusers import StableAudioDiTModel

    folder = tmp_path_factory.mktemp("sa-adapter") / "lora"
    return genkit.trained_adapter(StableAudioDiTModel, tiny_sa, "stable-audio", folder, "base")


def family_for(model, root, tmp_path, *overrides):
    return genkit.family_for(CONFIG, model, root, tmp_path, *overrides)


digest = genkit.digest


# ---------------------------------------------------------------------- objective


def test_loss_target_equals_hand_computation():
    """Cosine DPM-Solver (sigma_data 1, v-prediction): x = x0 + s n, input x / sqrt(1 + s^2),
    timestep atan(s) * 2 / pi, target v = (n - s x0) / sqrt(1 + s^2)."""
    from diffusers import CosineDPMSolverMultistepScheduler

    from audiolora.families.generation.stable_audio import noisy_latents_and_target

    sched = CosineDPMSolverMultistepScheduler(sigma_data=1.0, prediction_type="v_prediction")
    x0 = torch.tensor([[[1.0, -2.0], [0.5, 0.0]]])
    noise = torch.tensor([[[0.0, 1.0], [-1.0, 2.0]]])
    s = torch.tensor([0.75])  # sqrt(1 + s^2) = 1.25
    x, model_in, timestep, target = noisy_latents_and_target(sched, x0, noise, s)
    assert torch.allclose(x, torch.tensor([[[1.0, -1.25], [-0.25, 1.5]]]))
    assert torch.allclose(model_in, torch.tensor([[[0.8, -1.0], [-0.2, 1.2]]]))
    assert torch.allclose(timestep, torch.tensor([math.atan(0.75) * 2 / math.pi]))
    assert torch.allclose(target, torch.tensor([[[-0.6, 2.0], [-1.1, 1.6]]]), atol=1e-6)


def test_edm_scheduler_gets_its_own_parameterisation():
    """sigma_data 0.5, epsilon prediction: the target solves c_skip x + c_out F = x0 by hand."""
    from diffusers import EDMDPMSolverMultistepScheduler

    from audiolora.families.generation.stable_audio import noisy_latents_and_target

    sched = EDMDPMSolverMultistepScheduler(sigma_data=0.5, prediction_type="epsilon")
    x0, noise = torch.randn(2, 4, 3), torch.randn(2, 4, 3)
    s = torch.tensor([0.2, 3.0])
    x, _, _, target = noisy_latents_and_target(sched, x0, noise, s)
    sv = s.view(-1, 1, 1)
    c_skip = 0.25 / (sv**2 + 0.25)
    c_out = sv * 0.5 / (sv**2 + 0.25) ** 0.5
    assert torch.allclose(target, (x0 - c_skip * x) / c_out, atol=1e-5)


@pytest.mark.parametrize(
    "name", ["CosineDPMSolverMultistepScheduler", "EDMDPMSolverMultistepScheduler"]
)
def test_a_scheduler_step_with_the_true_target_lands_on_the_data(name):
    """The last step (to sigma 0) of the stock scheduler, fed the target, returns x0."""
    import diffusers

    from audiolora.families.generation.stable_audio import noisy_latents_and_target

    sched = getattr(diffusers, name)(
        sigma_min=0.3, sigma_max=500, solver_order=1
    )  # SA Open's range
    sched.set_timesteps(4)
    sched._step_index = len(sched.timesteps) - 1  # the step into sigma = 0
    sigma = sched.sigmas[sched._step_index].reshape(1)
    x0, noise = torch.randn(1, 8, 5), torch.randn(1, 8, 5)
    x, model_in, timestep, target = noisy_latents_and_target(sched, x0, noise, sigma)
    assert torch.allclose(sched.scale_model_input(x, sched.timesteps[-1]), model_in)
    assert torch.allclose(timestep, sched.timesteps[-1:])
    out = sched.step(target, sched.timesteps[-1], x, return_dict=False)[0]
    assert torch.allclose(out, x0, atol=1e-4)
    wrong = sched.precondition_outputs(x, torch.zeros_like(target), sigma)
    assert not torch.allclose(wrong, x0, atol=1e-2)  # the target matters at this sigma


def test_stable_audio_presets_name_real_modules(tiny_sa):
    from diffusers import StableAudioDiTModel

    from audiolora.families.generation.targets import STABLE_AUDIO, preset_targets

    names = [
        n
        for n, _ in StableAudioDiTModel.from_pretrained(
            tiny_sa, subfolder="transformer"
        ).named_modules()
    ]
    from fnmatch import fnmatchcase

    for part, globs in STABLE_AUDIO.items():
        for g in globs:
            assert any(fnmatchcase(n, g) for n in names), (part, g)
    assert "transformer_blocks.*.attn2.to_k" in preset_targets("cross", kind="stable-audio")
    with pytest.raises(ConfigError, match="unknown"):
        preset_targets("self+mlp", kind="stable-audio")


# ---------------------------------------------------------------------- cache and family


def test_one_and_two_pass_caches_are_byte_identical(tiny_sa, tmp_path):
    from audiolora.families.generation.cache import LatentCache
    from audiolora.families.generation.stable_audio import build_cache

    root = make_clips(tmp_path / "data")
    _, fam = family_for(tiny_sa, root, tmp_path)
    items = fam.captioned_items()
    one = build_cache(str(tiny_sa), items, tmp_path / "one")
    two = build_cache(str(tiny_sa), items, tmp_path / "two", two_pass=True)
    a, b = digest(one), digest(two)
    assert len(a) == 2 * len(items) + 2 and a == b
    cache = LatentCache(one)
    assert cache.latents(0).shape == (75, 8)  # 1.2 s at 16 kHz, hop 256; 8 latent channels
    hidden = cache.condition(0)["encoder_hidden_states"]
    assert hidden.shape == (32 + 2, 32)  # prompt padded to the tokenizer's max length + seconds
    assert not torch.equal(
        cache.condition(0)["encoder_hidden_states"], cache.condition(1)["encoder_hidden_states"]
    )
    assert torch.count_nonzero(cache.shared["null_condition_emb"]) == 0


def test_cached_condition_is_what_the_pipeline_feeds_its_dit(tiny_sa, tmp_path):
    """The cache's cross-attention input and global input equal the stock pipeline's own."""
    from diffusers import StableAudioPipeline

    from audiolora.families.generation.stable_audio import (
        encode_condition,
        global_states,
        text_side,
    )

    pipe = StableAudioPipeline.from_pretrained(tiny_sa)
    seen = {}

    def hook(module, args, kwargs):
        seen.update(kwargs)

    pipe.transformer.register_forward_pre_hook(hook, with_kwargs=True)
    pipe.set_progress_bar_config(disable=True)
    pipe(prompt="a koto melody", audio_end_in_s=1.25, num_inference_steps=1, guidance_scale=1.0)
    ours = encode_condition(text_side(str(tiny_sa)), "a koto melody", 1.25)
    hidden = ours["encoder_hidden_states"][None]
    assert torch.allclose(seen["encoder_hidden_states"], hidden, atol=1e-6)
    assert torch.allclose(seen["global_hidden_states"], global_states(hidden), atol=1e-6)


def test_family_trains_the_dit_only_and_dropout_uses_zeros(tiny_sa, tmp_path):
    from audiolora.families.generation.stable_audio import StableAudioFamily

    root = make_clips(tmp_path / "data")
    _, fam = family_for(tiny_sa, root, tmp_path, "generation.cfg_dropout=1.0")
    assert isinstance(fam, StableAudioFamily)
    model = fam.build_model()
    names = {type(m).__name__ for m in model.modules()}
    assert "StableAudioDiTModel" in names
    assert not names & {"AutoencoderOobleck", "T5EncoderModel", "StableAudioProjectionModel"}
    assert all(p.requires_grad == (".lora_" in n) for n, p in model.named_parameters())
    train, _ = fam.datasets()
    batch = fam.collate([train[0]])
    seen = {}

    def hook(module, args, kwargs):
        seen.update(kwargs)

    model.register_forward_pre_hook(hook, with_kwargs=True)
    loss = fam.training_loss(model, batch)
    assert torch.isfinite(loss)
    assert torch.count_nonzero(seen["encoder_hidden_states"]) == 0  # the pipeline's unconditional
    real = batch["encoder_hidden_states"]
    assert torch.equal(seen["global_hidden_states"], real[:, -2:].reshape(1, 1, -1))  # seconds kept


def test_ten_steps_overfit_one_clip(tiny_sa, tmp_path):
    root = make_clips(tmp_path / "one", n_train=1, n_valid=0, n_test=0)
    _, fam = family_for(tiny_sa, root, tmp_path, "adapter.rank=8", "generation.cfg_dropout=0.0")
    model = fam.build_model()
    train, _ = fam.datasets()
    batch = fam.collate([train[0]])
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=3e-3)
    with torch.no_grad():
        before = float(fam.loss_at(model, batch, fixed_sigma=0.5))
    for _ in range(10):
        opt.zero_grad()
        fam.loss_at(model, batch, fixed_sigma=0.5).backward()
        opt.step()
    with torch.no_grad():
        after = float(fam.loss_at(model, batch, fixed_sigma=0.5))
    assert after < 0.9 * before


# ---------------------------------------------------------------------- using an adapter


def test_peft_folder_loads_with_plain_peft_on_the_stock_transformer(tiny_sa, adapter):
    from diffusers import StableAudioDiTModel
    from diffusers.models.embeddings import get_1d_rotary_pos_embed
    from peft import PeftModel

    from audiolora.adapters import load_adapter

    x = torch.randn(1, 8, 10)
    t = torch.tensor([0.5])
    hidden = torch.randn(1, 34, 32)
    glob = torch.randn(1, 1, 64)
    rotary = get_1d_rotary_pos_embed(8, 11, use_real=True, repeat_interleave_real=False)

    def run(model):
        with torch.no_grad():
            return model(x, t, hidden, glob, rotary, return_dict=False)[0]

    stock = StableAudioDiTModel.from_pretrained(tiny_sa, subfolder="transformer")
    base = run(stock)
    plain = run(PeftModel.from_pretrained(stock, str(adapter)))
    ours = run(
        load_adapter(StableAudioDiTModel.from_pretrained(tiny_sa, subfolder="transformer"), adapter)
    )
    assert not torch.allclose(base, plain, atol=1e-3)  # the adapter changes the output
    assert torch.allclose(plain, ours, atol=1e-6)


def test_generate_cli_writes_the_asked_duration_with_an_adapter(tiny_sa, adapter, tmp_path):
    def gen(out, *extra):
        args = ["--quiet", "generate", "--model", str(tiny_sa), "--prompt", "a koto melody"]
        args += ["--duration", "1.5", "--seed", "4", "--steps", "3", "--out", str(out), *extra]
        assert main(args) == 0
        return sf.read(out, always_2d=True)

    audio, sr = gen(tmp_path / "base.wav")
    adapted, _ = gen(tmp_path / "adapted.wav", "--adapter", f"{adapter}:0.7")
    assert sr == SR and audio.shape == (24000, 2) and adapted.shape == (24000, 2)
    assert np.abs(audio).max() > 0 and not np.allclose(audio, adapted, atol=1e-4)
    assert (
        main(
            [
                "--quiet",
                "generate",
                "--model",
                str(tiny_sa),
                "--prompt",
                "x",
                "--duration",
                "9",
                "--out",
                str(tmp_path / "long.wav"),
            ]
        )
        != 0
    )


@pytest.mark.slow
def test_train_cli_end_to_end_reports_base_vs_adapted(tiny_sa, tmp_path):
    _, meta = genkit.train_and_report(CONFIG, tiny_sa, tmp_path, "sa")
    assert meta["pipeline"] == "StableAudioPipeline"
