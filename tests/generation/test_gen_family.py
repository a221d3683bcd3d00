"""The generation family on a tiny random AceStepPipeline loaded from its own folder."""

from __future__ import annotations

import genkit
import pytest
import torch

from audiolora.errors import AudioloraError, DataError
from audiolora.families.base import get_family
from audiolora.families.generation.cache import LatentCache, build_cache

CONFIG = "configs/generation/ace_step_lora.yaml"


def family_for(model, root, tmp_path, *overrides):
    return genkit.family_for(CONFIG, model, root, tmp_path, *overrides)


digest = genkit.digest


def test_one_and_two_pass_caches_are_byte_identical(tiny_ace, clips, tmp_path):
    _, fam = family_for(tiny_ace, clips, tmp_path)
    items = fam.captioned_items()
    one = build_cache(str(tiny_ace), items, tmp_path / "one")
    two = build_cache(str(tiny_ace), items, tmp_path / "two", two_pass=True)
    a, b = digest(one), digest(two)
    assert len(a) == 2 * len(items) + 2 and a == b
    cache = LatentCache(one)
    assert cache.latents(0).shape[1] == 8  # the tiny VAE's latent channels
    assert cache.condition(0)["encoder_hidden_states"].dim() == 2


def test_training_never_holds_the_encoders(tiny_ace, clips, tmp_path):
    _, fam = family_for(tiny_ace, clips, tmp_path)
    model = fam.build_model()
    names = {type(m).__name__ for m in model.modules()}
    assert "AceStepTransformer1DModel" in names
    assert not names & {"AutoencoderOobleck", "Qwen3Model", "AceStepConditionEncoder"}
    assert all(p.requires_grad == (".lora_" in n) for n, p in model.named_parameters())


def test_stale_cache_is_refused(tiny_ace, clips, tmp_path):
    _, fam = family_for(tiny_ace, clips, tmp_path)
    fam.cache()
    text = (clips / "captions.csv").read_text().replace("number 0", "number zero")
    (clips / "captions.csv").write_text(text)
    _, again = family_for(tiny_ace, clips, tmp_path)
    with pytest.raises(DataError, match="stale cache"):
        again.cache()


def test_null_embedding_replaces_the_condition_on_dropout(tiny_ace, clips, tmp_path):
    seen = []
    for p in (1.0, 0.0):
        _, fam = family_for(tiny_ace, clips, tmp_path, f"generation.cfg_dropout={p}")
        model = fam.build_model()
        train, _ = fam.datasets()
        batch = fam.collate([train[0], train[1]])
        hook = model.condition_embedder.register_forward_pre_hook(
            lambda m, args: seen.append(args[0].detach().clone())
        )
        fam.training_loss(model, batch)
        hook.remove()
        null = fam.null_emb.expand_as(batch["encoder_hidden_states"])
        expected = null if p == 1.0 else batch["encoder_hidden_states"]
        assert torch.equal(seen[-1], expected)


def test_crops_and_noise_come_from_seed_epoch_index(tiny_ace, clips, tmp_path):
    _, fam = family_for(tiny_ace, clips, tmp_path, "generation.window_seconds=0.4")
    train, _ = fam.datasets()
    first = train[1]
    assert torch.equal(first["latents"], train[1]["latents"])
    assert int(first["noise_seed"]) == int(train[1]["noise_seed"])
    train.set_epoch(1)
    assert int(train[1]["noise_seed"]) != int(first["noise_seed"])
    assert first["latents"].shape[0] == 25  # 0.4 s at 62.5 latent frames per second


def test_ten_steps_overfit_one_clip(tiny_ace, tmp_path):
    from genkit import make_clips

    from audiolora.train import Trainer

    root = make_clips(tmp_path / "one", n_train=1, n_valid=1, n_test=0)
    # the validation clip is the training clip: the loss must fall on what it sees
    (root / "valid" / "clip0.wav").write_bytes((root / "train" / "clip0.wav").read_bytes())
    text = (root / "captions.csv").read_text().replace("number 1", "number 0")
    (root / "captions.csv").write_text(text)
    cfg, fam = family_for(
        tiny_ace,
        root,
        tmp_path,
        "train.max_steps=10",
        "train.lr=1e-2",
        "train.batch_size=1",
        "train.eval_every=10",
        "train.warmup=0",
        "train.scheduler=constant",
        "generation.cfg_dropout=0",
        "adapter.rank=4",
        "generation.target_preset=both+ffn",
    )
    model = fam.build_model()
    _, valid = fam.datasets()
    before = fam.evaluate(model, valid)["loss"]
    trainer = Trainer(cfg, get_family(cfg))
    trainer.fit()
    after = trainer.family.evaluate(trainer.raw_model, trainer.family.datasets()[1])["loss"]
    assert after < 0.9 * before, (before, after)


def test_missing_caption_and_missing_audio_are_one_line_errors(tiny_ace, clips, tmp_path):
    (clips / "captions.csv").write_text("filename,caption\ntrain/clip0.wav,\ntrain/clip1.wav,x\n")
    _, fam = family_for(tiny_ace, clips, tmp_path)
    with pytest.raises(DataError, match=r"clip0.wav: no caption"):
        fam.captioned_items()
    _, tagged = family_for(
        tiny_ace,
        clips,
        tmp_path,
        "generation.allow_missing_captions=true",
        "generation.activation_tag=koto-style",
    )
    assert [i.meta.caption for i in tagged.captioned_items()] == ["koto-style", "koto-style, x"]
    (clips / "captions.csv").write_text("filename,caption\ntrain/nope.wav,x\n")
    with pytest.raises(DataError, match=r"nope.wav has no audio file"):
        family_for(tiny_ace, clips, tmp_path)[1].captioned_items()


def test_turbo_and_base_checkpoints_get_their_own_defaults(tmp_path):
    from audiolora.families.generation.bases import (
        checkpoint_variant,
        load_pipeline,
        sampling_defaults,
    )
    from audiolora.families.generation.builders import ace_step_pipeline

    ace_step_pipeline(is_turbo=False).save_pretrained(tmp_path / "base")
    pipe = load_pipeline(str(tmp_path / "base"))
    assert checkpoint_variant(pipe) == "base"
    assert sampling_defaults("base") == sampling_defaults("base", None, None, None)
    assert (sampling_defaults("turbo").steps, sampling_defaults("turbo").shift) == (8, 3.0)
    assert (sampling_defaults("base").steps, sampling_defaults("base").shift) == (60, 1.0)
    assert sampling_defaults("base", steps=12, shift=2.0).steps == 12


def test_unknown_model_is_one_line(tmp_path):
    from audiolora.families.generation.bases import resolve_location

    (tmp_path / "empty").mkdir()
    with pytest.raises(AudioloraError, match="not a diffusers pipeline folder"):
        resolve_location(str(tmp_path / "empty"))


@pytest.mark.slow
def test_train_cli_end_to_end_reports_base_vs_adapted(tiny_ace, tmp_path):
    import json

    from genkit import make_clips

    from audiolora.cli import main

    root = make_clips(tmp_path / "d", n_train=3, n_valid=1, n_test=2)
    code = main(
        [
            "--quiet",
            "train",
            CONFIG,
            f"model.name={tiny_ace}",
            f"data.root={root}",
            f"run.output_dir={tmp_path / 'runs'}",
            "generation.window_seconds=0.5",
            "generation.eval_clips=2",
            "generation.sample_seconds=0.5",
            "train.max_steps=4",
            "train.eval_every=2",
            "train.checkpoint_every=2",
            "generation.sample_every=2",
            "generation.sample_steps=2",
            "--run-name",
            "g",
        ]
    )
    assert code == 0
    run = tmp_path / "runs" / "g"
    metrics = json.loads((run / "metrics.json").read_text())
    report = metrics["report"]
    gen = report["generation"]
    assert set(gen) >= {"afd", "log_mel", "frechet"}
    assert all(set(v) == {"base", "adapted", "change_pct"} for v in gen.values())
    assert (run / "samples" / "final" / "adapted" / "00.wav").is_file()
    import soundfile as sf

    for step in (2, 4):  # samples while training, every generation.sample_every steps
        audio, sr = sf.read(run / "samples" / f"step_{step}" / "00.wav", always_2d=True)
        assert (
            sr == 16000
            and abs(audio.shape[0] - 8000) <= 256
            and (run / "samples" / f"step_{step}" / "00.png").is_file()
        )
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"audio": 0}).Reload()
    assert "samples/00" in events.Tags()["audio"]
    assert (run / "final" / "adapter_model.safetensors").is_file()
    assert (
        json.loads((run / "final" / "audiolora.json").read_text())["metadata"]["variant"] == "turbo"
    )


def test_gradient_rank_mode_spreads_a_budget_over_the_dit(tiny_ace, clips, tmp_path):
    _, fam = family_for(
        tiny_ace,
        clips,
        tmp_path,
        "adapter.rank_mode=gradient",
        "adapter.rank_budget=64",
        "adapter.gradient_batches=2",
        "adapter.min_rank=1",
        "train.batch_size=2",
    )
    model = fam.build_model()
    from audiolora.adapters.engine import adapters_of

    ranks = adapters_of(model)["default"].ranks
    assert len(ranks) == 16 and len(set(ranks.values())) > 1  # not uniform
    assert abs(sum(ranks.values()) - 64) <= len(ranks)
