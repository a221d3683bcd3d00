"""Stable Audio 3 (StableAudio3Pipeline) on tiny random-init pipelines loaded from their own folders."""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import Path

import genkit
import numpy as np
import pytest
import soundfile as sf
import torch
from genkit import SR, make_clips

from audiolora.cli import main
from audiolora.errors import ConfigError

CONFIG = "configs/generation/stable_audio3_lora.yaml"


def _save_tiny(tmp_path_factory, name: str, **kwargs) -> Path:
    from audiolora.families.generation.builders import stable_audio3_pipeline

    folder = tmp_path_factory.mktemp("sa3") / name
    stable_audio3_pipeline(samplerate=SR, **kwargs).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_sa3(tmp_path_factory) -> Path:
    """The distilled layout (stochastic ping-pong sampler), timesteps in [0, 1]."""
    return _save_tiny(tmp_path_factory, "tiny-sa3")


@pytest.fixture(scope="module")
def tiny_sa3_base(tmp_path_factory) -> Path:
    """The base layout (deterministic Euler) with timesteps scaled to 1000, to catch a wrong scale."""
    return _save_tiny(
        tmp_path_factory, "tiny-sa3-base", distilled=False, num_train_timesteps=1000, seed=1
    )


@pytest.fixture(scope="module")
def adapter(tiny_sa3, tmp_path_factory):
    """A LoRA adapter on every preset module of the tiny DiT with nonzero B (as after training)."""
    from diffusers import StableAudio3DiTModel

    folder = tmp_path_factory.mktemp("sa3-adapter") / "lora"
    return genkit.trained_adapter(StableAudio3DiTModel, tiny_sa3, "stable-audio-3", folder, "turbo")


def family_for(model, root, tmp_path, *overrides):
    return genkit.family_for(CONFIG, model, root, tmp_path, *overrides)


digest = genkit.digest


def dit_inputs(model) -> dict:
    """Record the keyword and positional inputs of every DiT call."""
    seen: dict = {"calls": []}

    def hook(module, args, kwargs):
        seen["calls"].append((args, kwargs))

    model.register_forward_pre_hook(hook, with_kwargs=True)
    return seen


# ---------------------------------------------------------------------- objective


@pytest.mark.parametrize("stochastic", [True, False])
@pytest.mark.parametrize("train_steps", [1, 1000])
def test_a_scheduler_step_with_the_true_velocity_recovers_the_clean_latent(stochastic, train_steps):
    """On the pipeline's own log-SNR schedule, the stock scheduler fed v = noise - x0 at x_t lands on
    x0 at the last step, and (deterministic Euler) on x_{t_next} with the same noise at every step;
    the timestep it is called with is sigma * num_train_timesteps."""
    from diffusers import FlowMatchEulerDiscreteScheduler
    from diffusers.pipelines.stable_audio_3.pipeline_stable_audio_3 import logsnr_sigma_schedule

    from audiolora.families.generation.objective import noisy_latents_and_target

    sched = FlowMatchEulerDiscreteScheduler(
        num_train_timesteps=train_steps, stochastic_sampling=stochastic
    )
    sched.set_timesteps(sigmas=logsnr_sigma_schedule(4, -6.2, 2.0))
    x0, noise = torch.randn(1, 6, 5), torch.randn(1, 6, 5)
    for i, t in enumerate(sched.timesteps):
        sigma, sigma_next = sched.sigmas[i], sched.sigmas[i + 1]
        assert torch.allclose(t, sigma * train_steps)
        x, v = noisy_latents_and_target(x0, noise, sigma.reshape(1))
        out = sched.step(v, t, x, generator=torch.Generator().manual_seed(0)).prev_sample
        if not stochastic or i == len(sched.timesteps) - 1:
            expected, _ = noisy_latents_and_target(x0, noise, sigma_next.reshape(1))
            assert torch.allclose(out, expected, atol=1e-5)
    assert torch.allclose(out, x0, atol=1e-5)
    x, _ = noisy_latents_and_target(x0, noise, sched.sigmas[-2].reshape(1))
    sched._step_index = len(sched.timesteps) - 1  # the step into sigma = 0 again
    wrong = sched.step(torch.zeros_like(x), sched.timesteps[-1], x).prev_sample
    assert not torch.allclose(wrong, x0, atol=1e-2)  # the velocity matters at this sigma


def test_loss_equals_a_hand_computation_with_the_checkpoints_timestep_scale(
    tiny_sa3_base, tmp_path
):
    """x_t = (1 - s) x0 + s n, DiT timestep s * 1000 (this checkpoint's num_train_timesteps),
    loss = mean((DiT(x_t) - (n - x0))^2), computed by hand on the batch's own noise."""
    root = make_clips(tmp_path / "data", n_train=1, n_valid=0, n_test=0)
    _, fam = family_for(tiny_sa3_base, root, tmp_path)
    model = fam.build_model()
    assert fam.variant == "base" and fam.scheduler.config.num_train_timesteps == 1000
    train, _ = fam.datasets()
    batch = fam.collate([train[0]])
    seen = dit_inputs(model)
    with torch.no_grad():
        loss = float(fam.loss_at(model, batch, fixed_sigma=0.3))
    x0 = batch["latents"]
    noise = torch.randn(
        x0.shape[1:], generator=torch.Generator().manual_seed(int(batch["noise_seed"][0]))
    )[None]
    x_t = 0.7 * x0 + 0.3 * noise
    (args, kwargs) = seen["calls"][0]
    assert torch.allclose(args[0], x_t.transpose(1, 2), atol=1e-6)
    assert torch.allclose(args[1], torch.tensor([300.0]))
    hidden = batch["encoder_hidden_states"]
    with torch.no_grad():
        out = model(
            x_t.transpose(1, 2),
            torch.tensor([300.0]),
            encoder_hidden_states=hidden,
            global_hidden_states=hidden[:, -1],
            encoder_attention_mask=batch["encoder_attention_mask"],
            return_dict=False,
        )[0].transpose(1, 2)
    hand = float(((out - (noise - x0)) ** 2).mean())
    assert loss == pytest.approx(hand, rel=1e-5)
    with torch.no_grad():  # the timestep scale matters: s instead of s * 1000 gives another loss
        wrong = model(
            x_t.transpose(1, 2),
            torch.tensor([0.3]),
            encoder_hidden_states=hidden,
            global_hidden_states=hidden[:, -1],
            encoder_attention_mask=batch["encoder_attention_mask"],
            return_dict=False,
        )[0].transpose(1, 2)
    assert abs(float(((wrong - (noise - x0)) ** 2).mean()) - hand) > 1e-4


def test_logit_normal_sigmas_with_the_schedulers_shift(tiny_sa3, tmp_path):
    """Training draws sigma = shift(sigmoid(N(mean, std))) with the scheduler's own shift."""
    from audiolora.families.generation.objective import sample_sigmas, shift_sigmas

    root = make_clips(tmp_path / "data", n_train=1, n_valid=0, n_test=0)
    _, fam = family_for(
        tiny_sa3, root, tmp_path, "generation.timestep_mean=0.5", "generation.cfg_dropout=0.0"
    )
    model = fam.build_model()
    fam.scheduler.register_to_config(shift=3.0)
    train, _ = fam.datasets()
    batch = fam.collate([train[0]])
    seen = dit_inputs(model)
    with torch.no_grad():
        fam.training_loss(model, batch)
    g = torch.Generator().manual_seed(int(batch["noise_seed"][0]))
    torch.randn(batch["latents"].shape[1:], generator=g)  # the noise comes first
    expected = sample_sigmas(1, g, 0.5, 1.0, 3.0)
    assert torch.allclose(seen["calls"][0][0][1], expected)
    unshifted = shift_sigmas(expected, 1 / 3.0)  # the inverse shift: the draw before it
    assert not torch.allclose(expected, unshifted, atol=1e-3)


def test_stable_audio3_presets_name_real_modules(tiny_sa3):
    from diffusers import StableAudio3DiTModel

    from audiolora.families.generation.targets import STABLE_AUDIO_3, preset_targets

    model = StableAudio3DiTModel.from_pretrained(tiny_sa3, subfolder="transformer")
    linear = {n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    for part, globs in STABLE_AUDIO_3.items():
        for g in globs:
            assert any(fnmatchcase(n, g) for n in linear), (part, g)
    assert "transformer_blocks.*.cross_attn.to_kv" in preset_targets("cross", kind="stable-audio-3")
    with pytest.raises(ConfigError, match="unknown"):
        preset_targets("self+mlp", kind="stable-audio-3")


# ---------------------------------------------------------------------- cache and family


def test_one_and_two_pass_caches_are_byte_identical(tiny_sa3, tmp_path):
    from audiolora.families.generation.cache import LatentCache
    from audiolora.families.generation.stable_audio3 import build_cache

    root = make_clips(tmp_path / "data")
    _, fam = family_for(tiny_sa3, root, tmp_path)
    items = fam.captioned_items()
    one = build_cache(str(tiny_sa3), items, tmp_path / "one")
    two = build_cache(str(tiny_sa3), items, tmp_path / "two", two_pass=True)
    a, b = digest(one), digest(two)
    assert len(a) == 2 * len(items) + 2 and a == b
    cache = LatentCache(one)
    assert cache.latents(0).shape == (75, 8)  # 1.2 s at 16 kHz, hop 32 * 8; 8 latent channels
    cond = cache.condition(0)
    assert cond["encoder_hidden_states"].shape == (32 + 1, 32)  # prompt tokens + duration token
    assert cond["encoder_attention_mask"][-1] == 1 and cond["encoder_attention_mask"][:-1].sum() > 1
    assert not torch.equal(
        cond["encoder_hidden_states"], cache.condition(1)["encoder_hidden_states"]
    )
    assert int(cache.shared["null_prompt_mask"].sum()) == 1  # "" is the BOS token alone
    assert float(cache.shared["latents_per_second"]) == 62.5


def test_cached_conditions_are_what_the_pipeline_feeds_its_dit(tiny_sa3, tmp_path):
    """With guidance the pipeline calls its DiT on [unconditional, conditional]; the cached condition
    and the family's CFG-dropout input equal those, duration token and global input included."""
    from diffusers import StableAudio3Pipeline

    from audiolora.families.generation.stable_audio3 import encode_condition, text_side

    pipe = StableAudio3Pipeline.from_pretrained(tiny_sa3)
    pipe.set_progress_bar_config(disable=True)
    seen = dit_inputs(pipe.transformer)
    pipe(prompt="a koto melody number 0", duration=1.2, num_inference_steps=1, guidance_scale=2.0)
    kw = seen["calls"][0][1]
    ours = encode_condition(text_side(str(tiny_sa3)), "a koto melody number 0", 1.2)
    assert torch.allclose(kw["encoder_hidden_states"][1], ours["encoder_hidden_states"], atol=1e-6)
    assert torch.equal(kw["encoder_attention_mask"][1], ours["encoder_attention_mask"].long())
    assert torch.allclose(
        kw["global_hidden_states"][1], ours["encoder_hidden_states"][-1], atol=1e-6
    )

    root = make_clips(tmp_path / "data", n_train=1, n_valid=0, n_test=0)
    _, fam = family_for(tiny_sa3, root, tmp_path, "generation.cfg_dropout=1.0")
    model = fam.build_model()
    train, _ = fam.datasets()
    batch = fam.collate([train[0]])
    assert torch.allclose(
        batch["encoder_hidden_states"][0], ours["encoder_hidden_states"], atol=1e-6
    )
    mine = dit_inputs(model)
    with torch.no_grad():
        fam.training_loss(model, batch)
    got = mine["calls"][0][1]
    assert torch.allclose(
        got["encoder_hidden_states"][0], kw["encoder_hidden_states"][0], atol=1e-6
    )
    assert torch.equal(got["encoder_attention_mask"][0].long(), kw["encoder_attention_mask"][0])
    assert torch.allclose(got["global_hidden_states"][0], kw["global_hidden_states"][0], atol=1e-6)


def test_family_trains_the_dit_only(tiny_sa3, tmp_path):
    from audiolora.families.generation.stable_audio3 import StableAudio3Family

    root = make_clips(tmp_path / "data")
    _, fam = family_for(tiny_sa3, root, tmp_path)
    assert isinstance(fam, StableAudio3Family)
    model = fam.build_model()
    names = {type(m).__name__ for m in model.modules()}
    assert "StableAudio3DiTModel" in names
    assert not names & {"AutoencoderSAME", "T5GemmaEncoderModel", "StableAudio3DurationEmbedder"}
    assert all(p.requires_grad == (".lora_" in n) for n, p in model.named_parameters())
    assert fam.variant == "turbo"
    train, valid = fam.datasets()
    loss = fam.training_loss(model, fam.collate([train[0], train[1]]))
    loss.backward()
    assert torch.isfinite(loss)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    assert set(fam.evaluate(model, valid)) == {"loss"}


def test_gradient_checkpointing_keeps_loss_and_gradients(tiny_sa3, tmp_path):
    root = make_clips(tmp_path / "data", n_train=1, n_valid=0, n_test=0)
    _, fam = family_for(tiny_sa3, root, tmp_path)
    model = fam.build_model()
    train, _ = fam.datasets()
    batch = fam.collate([train[0]])

    def loss_and_grads():
        model.zero_grad()
        loss = fam.loss_at(model, batch, fixed_sigma=0.4)
        loss.backward()
        return float(loss), [p.grad.clone() for p in model.parameters() if p.requires_grad]

    plain, grads = loss_and_grads()
    fam.set_gradient_checkpointing(model, True)
    assert model.gradient_checkpointing
    checked, grads_ckpt = loss_and_grads()
    assert checked == pytest.approx(plain, rel=1e-6)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(grads, grads_ckpt, strict=True))


def test_ten_steps_overfit_one_clip(tiny_sa3, tmp_path):
    root = make_clips(tmp_path / "one", n_train=1, n_valid=0, n_test=0)
    _, fam = family_for(tiny_sa3, root, tmp_path, "adapter.rank=8", "generation.cfg_dropout=0.0")
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


def test_peft_folder_loads_with_plain_peft_on_the_stock_transformer(tiny_sa3, adapter):
    from diffusers import StableAudio3DiTModel
    from peft import PeftModel

    from audiolora.adapters import load_adapter

    gen = torch.Generator().manual_seed(0)
    x, hidden = torch.randn(1, 8, 10, generator=gen), torch.randn(1, 33, 32, generator=gen)
    mask = torch.ones(1, 33, dtype=torch.long)

    def run(model):
        with torch.no_grad():
            return model(x, torch.tensor([0.5]), hidden, hidden[:, -1], mask, return_dict=False)[0]

    stock = StableAudio3DiTModel.from_pretrained(tiny_sa3, subfolder="transformer")
    base = run(stock)
    plain = run(PeftModel.from_pretrained(stock, str(adapter)))
    ours = run(
        load_adapter(
            StableAudio3DiTModel.from_pretrained(tiny_sa3, subfolder="transformer"), adapter
        )
    )
    scale = float(base.abs().max())
    assert float((base - plain).abs().max()) > 1e-2 * scale  # the adapter changes the output
    assert float((plain - ours).abs().max()) < 1e-5 * scale  # float32 rounding only


def test_merged_folder_loads_in_the_stock_pipeline_with_the_adapters_effect(
    tiny_sa3, adapter, tmp_path
):
    from diffusers import StableAudio3DiTModel, StableAudio3Pipeline
    from peft import PeftModel

    from audiolora.families.generation.export import merge_to_folder

    out = merge_to_folder(str(tiny_sa3), [(str(adapter), 1.0)], tmp_path / "merged")
    merged = StableAudio3Pipeline.from_pretrained(out).transformer
    assert not any("lora" in n for n, _ in merged.named_parameters())
    gen = torch.Generator().manual_seed(1)
    x, hidden = torch.randn(1, 8, 6, generator=gen), torch.randn(1, 33, 32, generator=gen)
    stock = StableAudio3DiTModel.from_pretrained(tiny_sa3, subfolder="transformer")
    with torch.no_grad():
        want = PeftModel.from_pretrained(stock, str(adapter))(
            x, torch.tensor([0.4]), hidden, hidden[:, -1], return_dict=False
        )[0]
        got = merged(x, torch.tensor([0.4]), hidden, hidden[:, -1], return_dict=False)[0]
    assert float((want - got).abs().max()) < 1e-4 * float(want.abs().max())


def test_generate_cli_writes_the_asked_duration_with_an_adapter(tiny_sa3, adapter, tmp_path):
    def gen(out, *extra):
        args = ["--quiet", "generate", "--model", str(tiny_sa3), "--prompt", "a koto melody"]
        args += ["--duration", "1.5", "--seed", "4", "--steps", "3", "--out", str(out), *extra]
        assert main(args) == 0
        return sf.read(out, always_2d=True)

    audio, sr = gen(tmp_path / "base.wav")
    again, _ = gen(tmp_path / "again.wav")
    adapted, _ = gen(tmp_path / "adapted.wav", "--adapter", f"{adapter}:0.7")
    assert sr == SR and audio.shape == (24000, 2) and adapted.shape == (24000, 2)
    assert np.abs(audio).max() > 0 and np.array_equal(audio, again)
    assert not np.allclose(audio, adapted, atol=1e-4)
    too_long = ["--quiet", "generate", "--model", str(tiny_sa3), "--prompt", "x"]
    assert main([*too_long, "--duration", "400", "--out", str(tmp_path / "long.wav")]) != 0


def test_runner_reads_steps_and_guidance_from_the_checkpoint(tiny_sa3, tiny_sa3_base):
    """Distilled: the pipeline's 8 steps without guidance; base: its 100 steps with guidance (two
    DiT calls a step); an explicit --steps wins."""
    from audiolora.families.generation.bases import checkpoint_variant, load_pipeline
    from audiolora.families.generation.inference import run_pipeline

    for folder, variant, steps, calls in (
        (tiny_sa3, "turbo", 8, 8),
        (tiny_sa3_base, "base", 100, 100),
    ):
        pipe = load_pipeline(str(folder))
        assert checkpoint_variant(pipe) == variant
        seen = dit_inputs(pipe.transformer)
        ticks = []
        run_pipeline(pipe, ["x"], duration=0.2, on_step=lambda i, n, t=ticks: t.append((i, n)))
        assert len(seen["calls"]) == calls and ticks[-1] == (steps, steps)
        batch = seen["calls"][0][0][0].shape[0]
        assert batch == (2 if variant == "base" else 1)  # CFG doubles the batch
    seen["calls"].clear()
    run_pipeline(pipe, ["x"], duration=0.2, steps=2)
    assert len(seen["calls"]) == 2
    with pytest.raises(ConfigError, match="384"):
        run_pipeline(pipe, ["x"], duration=500)


@pytest.mark.slow
def test_train_cli_end_to_end_reports_base_vs_adapted(tiny_sa3, tmp_path):
    _, meta = genkit.train_and_report(CONFIG, tiny_sa3, tmp_path, "sa3")
    assert meta["pipeline"] == "StableAudio3Pipeline" and meta["variant"] == "turbo"
