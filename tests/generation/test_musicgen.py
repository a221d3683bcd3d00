"""MusicGen (transformers' MusicgenForConditionalGeneration) in the generation family, on a tiny
random-init model and processor saved with save_pretrained and loaded like a downloaded checkpoint."""

from __future__ import annotations

from pathlib import Path

import genkit
import numpy as np
import pytest
import soundfile as sf
import torch
import torch.nn.functional as F

from audiolora.cli import main
from audiolora.errors import AudioloraError, ConfigError, DataError
from audiolora.families.base import get_family

CONFIG = "configs/generation/ace_step_lora.yaml"
SR = 16000  # the tiny EnCodec: 16 kHz, hop 320 -> 50 code frames per second, 4 codebooks


@pytest.fixture(scope="session")
def tiny_musicgen(tmp_path_factory) -> Path:
    from audiolora.families.generation.builders import musicgen_model

    folder = tmp_path_factory.mktemp("musicgen") / "tiny-musicgen"
    model, processor = musicgen_model(samplerate=SR)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def family_for(model, root, tmp_path, *overrides):
    return genkit.family_for(CONFIG, model, root, tmp_path, *overrides)


def test_a_musicgen_folder_is_recognised(tiny_musicgen, clips, tmp_path):
    from audiolora.families.generation.bases import pipeline_class_name, resolve_location
    from audiolora.families.generation.musicgen import MusicGenFamily

    assert resolve_location(str(tiny_musicgen)) == str(tiny_musicgen)
    assert pipeline_class_name(str(tiny_musicgen)) == "MusicgenForConditionalGeneration"
    _, fam = family_for(tiny_musicgen, clips, tmp_path)
    assert type(fam) is MusicGenFamily


def test_delay_pattern_loss_equals_a_hand_computation(tiny_musicgen):
    from audiolora.families.generation.musicgen_model import (
        load_musicgen,
        musicgen_loss,
        start_token,
    )

    full, _ = load_musicgen(str(tiny_musicgen), with_processor=False)
    decoder, start = full.decoder, start_token(full)
    books, frames, vocab = 4, 6, 64
    codes = torch.randint(0, vocab, (1, books, frames), generator=torch.Generator().manual_seed(0))
    hidden = torch.randn(1, 5, 32, generator=torch.Generator().manual_seed(1))
    mask = torch.tensor([[1, 1, 1, 1, 0]])
    # by hand: codebook k is delayed by k + 1 positions (after the start token), start elsewhere
    length = frames + books
    seq = torch.full((books, length), start)
    for k in range(books):
        seq[k, k + 1 : k + 1 + frames] = codes[0, k]
    logits = decoder(
        input_ids=seq[:, :-1], encoder_hidden_states=hidden, encoder_attention_mask=mask
    ).logits  # [K, L-1, V]
    per_book = []
    for k in range(books):
        # position j predicts seq[k, j + 1]: real codes only for j in [k, k + frames)
        logp = F.log_softmax(logits[k, k : k + frames].double(), dim=-1)
        per_book.append(-logp[torch.arange(frames), codes[0, k]].mean())
    expected = torch.stack(per_book).mean()
    got = musicgen_loss(decoder, codes, torch.ones(1, frames), hidden, mask, start)
    assert torch.allclose(got.double(), expected, atol=1e-5), (got, expected)
    # a padded second item changes nothing for the first one's frames
    both = torch.cat([codes, codes.roll(1, -1)])
    fmask = torch.tensor([[1] * frames, [1] * (frames - 2) + [0, 0]])
    pair = musicgen_loss(decoder, both, fmask, hidden.expand(2, -1, -1), mask.expand(2, -1), start)
    assert torch.isfinite(pair) and not torch.allclose(pair, got)


def test_cache_round_trip_and_stale_cache(tiny_musicgen, clips, tmp_path):
    from audiolora.families.generation.musicgen_cache import CodeCache

    _, fam = family_for(tiny_musicgen, clips, tmp_path)
    cache = fam.cache()
    assert isinstance(cache, CodeCache) and len(cache) == 5
    codes = cache.codes(0)
    assert codes.dtype == torch.int64 and codes.shape == (4, 60)  # 1.2 s at 50 frames/s
    assert int(codes.max()) < 64 and int(cache.shared["codebooks"]) == 4
    cond = cache.condition(0)
    assert cond["encoder_hidden_states"].shape[1] == 32  # projected to the decoder's width
    assert torch.count_nonzero(cache.shared["null_hidden_states"]) == 0
    assert int(cache.shared["null_attention_mask"].sum()) == 0
    again = CodeCache(cache.folder)
    assert torch.equal(again.codes(0), codes)
    text = (clips / "captions.csv").read_text().replace("number 0", "number zero")
    (clips / "captions.csv").write_text(text)
    with pytest.raises(DataError, match="stale cache"):
        family_for(tiny_musicgen, clips, tmp_path)[1].cache()


def test_training_holds_the_decoder_only_and_dropout_uses_the_unconditional_input(
    tiny_musicgen, clips, tmp_path
):
    seen = []
    for p in (1.0, 0.0):
        _, fam = family_for(tiny_musicgen, clips, tmp_path, f"generation.cfg_dropout={p}")
        model = fam.build_model()
        names = {type(m).__name__ for m in model.modules()}
        assert "MusicgenForCausalLM" in names
        assert not names & {"T5EncoderModel", "EncodecModel"}
        assert all(p.requires_grad == (".lora_" in n) for n, p in model.named_parameters())
        train, _ = fam.datasets()
        batch = fam.collate([train[0], train[1]])
        hook = model.model.decoder.layers[0].encoder_attn.register_forward_pre_hook(
            lambda m, args, kwargs: seen.append(
                (kwargs["key_value_states"].clone(), kwargs.get("attention_mask"))
            ),
            with_kwargs=True,
        )
        fam.training_loss(model, batch)
        hook.remove()
        states = seen[-1][0]
        if p == 1.0:
            assert torch.count_nonzero(states) == 0
        else:
            assert torch.equal(states, batch["encoder_hidden_states"])
    # zero states with a zero mask are what get_unconditional_inputs gives the decoder
    full_null = fam.cache().shared["null_hidden_states"]
    assert full_null.shape == (1, 32)


def test_crops_come_from_seed_epoch_index(tiny_musicgen, clips, tmp_path):
    _, fam = family_for(tiny_musicgen, clips, tmp_path, "generation.window_seconds=0.4")
    train, _ = fam.datasets()
    first = train[1]
    assert first["codes"].shape == (20, 4)  # 0.4 s at 50 frames/s, [T, K]
    assert torch.equal(first["codes"], train[1]["codes"])
    train.set_epoch(1)
    assert int(train[1]["noise_seed"]) != int(first["noise_seed"])


def test_ten_steps_overfit_one_clip(tiny_musicgen, tmp_path):
    from genkit import make_clips

    from audiolora.train import Trainer

    root = make_clips(tmp_path / "one", n_train=1, n_valid=1, n_test=0)
    (root / "valid" / "clip0.wav").write_bytes((root / "train" / "clip0.wav").read_bytes())
    text = (root / "captions.csv").read_text().replace("number 1", "number 0")
    (root / "captions.csv").write_text(text)
    cfg, fam = family_for(
        tiny_musicgen,
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
        "generation.target_preset=both+ffn+output",
        "generation.window_seconds=1.2",  # the whole clip: validation sees what training sees
    )
    model = fam.build_model()
    _, valid = fam.datasets()
    before = fam.evaluate(model, valid)["loss"]
    trainer = Trainer(cfg, get_family(cfg))
    trainer.fit()
    after = trainer.family.evaluate(trainer.raw_model, trainer.family.datasets()[1])["loss"]
    assert after < 0.9 * before, (before, after)


def test_lokr_attaches_and_bad_preset_is_one_line(tiny_musicgen, clips, tmp_path):
    _, fam = family_for(
        tiny_musicgen, clips, tmp_path, "adapter.kind=lokr", "generation.target_preset=self"
    )
    model = fam.build_model()
    assert any("lokr" in n for n, p in model.named_parameters() if p.requires_grad)
    with pytest.raises(ConfigError, match="not a MusicGen preset"):
        family_for(tiny_musicgen, clips, tmp_path, "generation.target_preset=both+time")


def test_missing_caption_and_missing_audio_are_one_line_errors(tiny_musicgen, clips, tmp_path):
    (clips / "captions.csv").write_text("filename,caption\ntrain/clip0.wav,\n")
    with pytest.raises(DataError, match=r"clip0.wav: no caption"):
        family_for(tiny_musicgen, clips, tmp_path)[1].cache()
    (clips / "captions.csv").write_text("filename,caption\ntrain/nope.wav,x\n")
    with pytest.raises(DataError, match=r"nope.wav has no audio file"):
        family_for(tiny_musicgen, clips, tmp_path)[1].cache()


@pytest.fixture(scope="module")
def musicgen_adapter(tiny_musicgen, tmp_path_factory):
    """A LoRA on the tiny decoder's attention with nonzero B (as after training)."""
    from audiolora.adapters import AdapterSpec, attach_adapter, save_adapter
    from audiolora.families.generation.musicgen import musicgen_targets
    from audiolora.families.generation.musicgen_model import load_musicgen

    full, _ = load_musicgen(str(tiny_musicgen), with_processor=False)
    attach_adapter(full.decoder, AdapterSpec(rank=4, alpha=8, targets=musicgen_targets("both")))
    torch.manual_seed(3)
    with torch.no_grad():
        for name, p in full.decoder.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 1.0)
    folder = tmp_path_factory.mktemp("mg-adapter") / "lora"
    save_adapter(full.decoder, folder, {"family": "generation", "variant": "base"})
    return folder


def test_generate_writes_the_asked_duration_and_an_adapter_changes_it(
    tiny_musicgen, musicgen_adapter, tmp_path
):
    outs = []
    for extra in ([], ["--adapter", f"{musicgen_adapter}:1.0"], []):
        out = tmp_path / f"clip{len(outs)}.wav"
        args = ["--quiet", "generate", "--model", str(tiny_musicgen), "--prompt", "a koto melody"]
        args += ["--duration", "0.7", "--seed", "4", "--out", str(out), *extra]
        assert main(args) == 0
        audio, sr = sf.read(out, always_2d=True)
        assert sr == SR and audio.shape == (11200, 1)
        outs.append(audio)
    assert np.array_equal(outs[0], outs[2])  # same seed, same clip
    # the adapter changes the sampled codes; the tiny random EnCodec decodes them to small changes
    assert not np.array_equal(outs[0], outs[1])


def test_generate_with_a_bad_adapter_is_one_line(tiny_musicgen, tmp_path, capsys):
    args = ["generate", "--model", str(tiny_musicgen), "--prompt", "x", "--duration", "0.2"]
    assert main([*args, "--adapter", str(tmp_path / "none"), "--out", str(tmp_path / "a.wav")]) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after transformers' load bar
    assert last.startswith("error: ") and last.endswith("none: no such adapter folder")


def test_not_a_model_folder_is_one_line(tmp_path):
    from audiolora.families.generation.bases import resolve_location

    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(AudioloraError, match="not a diffusers pipeline folder"):
        resolve_location(str(tmp_path / "m"))


@pytest.mark.slow
def test_train_cli_end_to_end_reports_base_vs_adapted(tiny_musicgen, tmp_path):
    import json

    from genkit import make_clips

    root = make_clips(tmp_path / "d", n_train=3, n_valid=1, n_test=2)
    code = main(
        [
            "--quiet",
            "train",
            CONFIG,
            f"model.name={tiny_musicgen}",
            f"data.root={root}",
            f"run.output_dir={tmp_path / 'runs'}",
            "generation.window_seconds=0.5",
            "generation.eval_clips=2",
            "generation.sample_every=2",
            "generation.sample_seconds=0.3",
            "train.max_steps=4",
            "train.eval_every=2",
            "train.checkpoint_every=2",
            "--run-name",
            "mg",
        ]
    )
    assert code == 0
    run = tmp_path / "runs" / "mg"
    report = json.loads((run / "metrics.json").read_text())["report"]
    gen = report["generation"]
    assert set(gen) >= {"afd", "log_mel", "frechet"}
    assert all(set(v) == {"base", "adapted", "change_pct"} for v in gen.values())
    assert (run / "samples" / "final" / "adapted" / "00.wav").is_file()
    assert (run / "samples" / "step_2" / "00.wav").is_file()
    meta = json.loads((run / "final" / "audiolora.json").read_text())["metadata"]
    assert meta["pipeline"] == "MusicgenForConditionalGeneration"
    out = tmp_path / "adapted.wav"
    args = ["--quiet", "generate", "--model", str(tiny_musicgen), "--prompt", "a koto melody"]
    assert (
        main([*args, "--duration", "0.5", "--adapter", str(run / "final"), "--out", str(out)]) == 0
    )
    assert sf.read(out, always_2d=True)[0].shape == (8000, 1)


def test_stereo_checkpoint_interleaves_left_and_right_codebooks():
    from genkit import tone

    from audiolora.families.generation.builders import musicgen_model
    from audiolora.families.generation.musicgen_model import (
        delay_pattern,
        encode_audio,
        sample,
        start_token,
    )

    model, processor = musicgen_model(audio_channels=2, codebooks=8)
    wave = np.stack([tone(220, 0.6)[0], tone(330, 0.6, seed=1)[0]])
    codes = encode_audio(model, processor, wave)
    assert codes.shape == (8, 30)
    for side in (0, 1):
        alone = model.audio_encoder.encode(torch.from_numpy(wave[side])[None, None]).audio_codes
        # CPU kernels may flip a code that sits on a quantization boundary (seen: 1 of 120 with
        # AVX-512 kernels), so: nearly all codes equal, and clearly more than in the swapped order
        same = float((codes[side::2] == alone[0, 0]).float().mean())
        swapped = float((codes[1 - side :: 2] == alone[0, 0]).float().mean())
        assert same >= 0.95 and same > swapped + 0.2, (same, swapped)
    _, valid = delay_pattern(model.decoder, codes[None], start_token(model))
    assert valid.shape == (8, 34)  # 4 codebooks a channel: 4 delays
    assert sample(model, processor, ["a koto"], duration=0.3).shape == (1, 2, 4800)
