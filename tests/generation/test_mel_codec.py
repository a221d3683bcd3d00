"""The fixed mel codec of gen-mini: standardised log-mel latents, Griffin-Lim decoding, and loading
through the stock AceStepPipeline and audiolora's codec loader."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audiolora.errors import ConfigError
from audiolora.families.generation import builders
from audiolora.families.generation.codecs import MelCodec, codec_class, load_codec

SR = 16000


def tone(freq: float, seconds: float = 1.0, amp: float = 0.3) -> torch.Tensor:
    t = torch.arange(int(seconds * SR)) / SR
    return (amp * torch.sin(2 * torch.pi * freq * t))[None]  # [1, N]


def test_latents_are_standardised_per_band_on_the_statistics_set():
    codec = MelCodec(n_mels=32)
    waves = [tone(f) + 0.01 * torch.randn(1, SR) for f in (220.0, 440.0, 880.0)]
    codec.set_statistics(waves)
    z = torch.cat([codec.encode(w[None]).latent_dist.mean[0] for w in waves], dim=-1)
    assert z.shape[0] == 32 and z.shape[1] == 3 * (SR // 256)
    assert torch.allclose(z.mean(dim=-1), torch.zeros(32), atol=1e-4)
    assert torch.allclose(z.std(dim=-1), torch.ones(32), atol=1e-3)


def test_decode_keeps_the_pitch_and_the_length_and_is_deterministic():
    codec = MelCodec(n_mels=80)
    x = tone(440.0)[None]
    posterior = codec.encode(x).latent_dist
    assert torch.allclose(posterior.sample(), posterior.mean, atol=1e-3)  # deterministic codec
    y = codec.decode(posterior.mean).sample
    assert y.shape == (1, 1, (SR // 256) * 256)
    assert torch.equal(y, codec.decode(posterior.mean).sample)
    spectrum = np.abs(np.fft.rfft(y[0, 0].numpy()))
    peak_hz = spectrum.argmax() * SR / y.shape[-1]
    assert abs(peak_hz - 440.0) < 15.0
    # Re-encoding the decoded audio lands far nearer the original than another pitch does.
    again = codec.encode(y).latent_dist.mean
    other = codec.encode(tone(660.0)[None]).latent_dist.mean
    assert (again - posterior.mean).abs().mean() < 0.5 * (other - posterior.mean).abs().mean()


def test_pipeline_with_the_mel_codec_saves_and_loads_through_the_stock_pipeline(tmp_path):
    from diffusers import AceStepPipeline

    pipe = builders.ace_step_pipeline(
        codec="mel", acoustic_dim=16, downsampling=(4, 4, 4, 4), audio_channels=1
    )
    pipe.vae.latent_mean.fill_(-3.0)
    pipe.save_pretrained(tmp_path)
    loaded = AceStepPipeline.from_pretrained(tmp_path)
    assert isinstance(loaded.vae, MelCodec)
    assert torch.equal(loaded.vae.latent_mean, torch.full((16,), -3.0))
    assert loaded.latents_per_second == SR / 256
    audio = loaded(
        prompt="a test",
        audio_duration=1.0,
        num_inference_steps=2,
        generator=torch.Generator().manual_seed(0),
    ).audios
    assert audio.shape == (1, 1, 63 * 256) and torch.isfinite(audio).all()
    assert codec_class(tmp_path) is MelCodec
    assert isinstance(load_codec(tmp_path), MelCodec)


def test_codec_loader_takes_the_class_the_folder_names(tmp_path):
    from diffusers import AutoencoderOobleck

    pipe = builders.ace_step_pipeline(audio_channels=1)
    pipe.vae.save_pretrained(tmp_path / "oobleck" / "vae")
    codec = load_codec(tmp_path / "oobleck")
    assert isinstance(codec, AutoencoderOobleck) and not codec.training
    assert not any(p.requires_grad for p in codec.parameters())
    bad = tmp_path / "bad" / "vae"
    bad.mkdir(parents=True)
    (bad / "config.json").write_text('{"_class_name": "NoSuchCodec"}')
    with pytest.raises(ConfigError, match="NoSuchCodec"):
        load_codec(tmp_path / "bad")


def test_load_pipeline_finds_the_codec_class_in_a_fresh_process(tmp_path):
    """diffusers imports no module a folder names: audiolora's loader must import it first (and
    keep diffusers' type warning about the vae quiet)."""
    import subprocess
    import sys

    builders.ace_step_pipeline(codec="mel", acoustic_dim=8, audio_channels=1).save_pretrained(
        tmp_path
    )
    code = (
        "from audiolora.families.generation.bases import load_pipeline;"
        f"print(type(load_pipeline({str(tmp_path)!r}).vae).__name__)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "MelCodec"
    assert "Expected types" not in done.stderr


def test_round_trip_returns_the_clip_at_its_own_rate_channels_and_length():
    from audiolora.families.generation.codecs import round_trip

    codec = MelCodec(n_mels=80)
    rate = 22050
    t = np.arange(int(1.3 * rate)) / rate
    clip = np.stack([np.sin(2 * np.pi * 330 * t)] * 2).astype(np.float32) * 0.3
    out = round_trip(codec)(clip, rate)
    assert out.shape == clip.shape and out.dtype == np.float32
    spectrum = np.abs(np.fft.rfft(out[0]))
    assert abs(spectrum.argmax() * rate / out.shape[1] - 330) < 15
