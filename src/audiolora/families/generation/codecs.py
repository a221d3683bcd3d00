"""Audio codecs of the generation bases: diffusers' `AutoencoderOobleck` and `MelCodec`.

`MelCodec` is the fixed (untrained) log-mel codec of the bundled `gen-mini`. A small
`AutoencoderOobleck` trained on 2 CPU cores for 15 minutes reached only 1.2 dB SNR and lost the
style of what it encoded (a style classifier labelled 0 of 6 reconstructions of traditional pieces
as traditional, 6 of 6 originals), so no adapter on top of it could sound traditional. A log-mel
spectrogram keeps pitch and timbre by construction; Griffin-Lim (librosa) turns it back into audio.

It has `AutoencoderOobleck`'s interface, so the stock `AceStepPipeline` and every audiolora code
path use it unchanged: `encode(x).latent_dist.mean` [B, n_mels, T], `decode(z).sample`
[B, channels, T * hop], `config.sampling_rate`, `config.audio_channels`,
`config.downsampling_ratios`. Latents are per-bin standardised log-mel frames; the per-bin mean and
spread are measured on the pretraining renders and saved as buffers (not trained).

No library ships a mel codec behind diffusers' autoencoder interface, hence this small class; the
signal processing itself is librosa's (`melspectrogram`, `inverse.mel_to_audio`).
"""

from __future__ import annotations

import logging
import math
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.autoencoders.autoencoder_oobleck import (
    AutoencoderOobleckOutput,
    OobleckDecoderOutput,
    OobleckDiagonalGaussianDistribution,
)
from diffusers.models.modeling_utils import ModelMixin

from ...errors import ConfigError

LOG_FLOOR = 1e-5
# The posterior's "scale" half: softplus(-30) + 1e-4 = 1e-4, the smallest spread the Oobleck
# distribution allows, so `.sample()` is the mean up to 1e-4 (the codec is deterministic).
NEAR_ZERO_SCALE = -30.0


class MelCodec(ModelMixin, ConfigMixin):
    """Fixed log-mel codec: standardised log-mel frames as latents, Griffin-Lim to decode."""

    @register_to_config
    def __init__(
        self,
        sampling_rate: int = 16000,
        audio_channels: int = 1,
        n_fft: int = 1024,
        downsampling_ratios: tuple[int, ...] = (256,),
        n_mels: int = 80,
        fmin: float = 0.0,
        fmax: float | None = None,
        griffin_lim_iters: int = 48,
    ):
        super().__init__()
        self.register_buffer("latent_mean", torch.zeros(n_mels))
        self.register_buffer("latent_std", torch.ones(n_mels))

    @property
    def hop_length(self) -> int:
        return int(math.prod(self.config.downsampling_ratios))

    def _mel_kwargs(self) -> dict:
        c = self.config
        return dict(
            sr=c.sampling_rate,
            n_fft=c.n_fft,
            hop_length=self.hop_length,
            n_mels=c.n_mels,
            fmin=c.fmin,
            fmax=c.fmax,
            power=2.0,
        )

    def log_mel(self, x: torch.Tensor) -> torch.Tensor:
        """Log-mel power [B, n_mels, N // hop] of audio [B, channels, N] (channels averaged)."""
        import librosa

        mono = x.detach().float().mean(dim=1).cpu().numpy()
        frames = mono.shape[-1] // self.hop_length
        mel = librosa.feature.melspectrogram(y=mono, **self._mel_kwargs())[..., :frames]
        return torch.from_numpy(np.log(np.maximum(mel, LOG_FLOOR))).float()

    def set_statistics(self, waves: list[torch.Tensor]) -> None:
        """Measure the per-bin mean and spread of the log-mel frames of `waves` ([channels, N])."""
        frames = torch.cat([self.log_mel(w[None])[0] for w in waves], dim=-1)
        self.latent_mean.copy_(frames.mean(dim=-1))
        self.latent_std.copy_(frames.std(dim=-1).clamp_min(1e-3))

    def encode(self, x: torch.Tensor, return_dict: bool = True):
        """Audio [B, channels, N] -> `latent_dist` over [B, n_mels, N // hop]."""
        z = (self.log_mel(x) - self.latent_mean[:, None]) / self.latent_std[:, None]
        z = z.to(device=x.device, dtype=x.dtype)
        params = torch.cat([z, torch.full_like(z, NEAR_ZERO_SCALE)], dim=1)
        posterior = OobleckDiagonalGaussianDistribution(params)
        return AutoencoderOobleckOutput(latent_dist=posterior) if return_dict else (posterior,)

    def decode(self, z: torch.Tensor, return_dict: bool = True, generator=None):
        """Latents [B, n_mels, T] -> audio [B, channels, T * hop] by Griffin-Lim (seeded)."""
        import librosa

        log_mel = z.detach().float().cpu() * self.latent_std[:, None] + self.latent_mean[:, None]
        mel = np.exp(log_mel.numpy())
        # `encode` keeps N // hop frames; the centred STFT of T * hop samples has one more.
        mel = np.concatenate([mel, mel[..., -1:]], axis=-1)
        c, hop = self.config, self.hop_length
        audio = []
        for m in mel:  # librosa's mel_to_audio cannot seed Griffin-Lim, so its two steps by hand
            stft = librosa.feature.inverse.mel_to_stft(
                m, sr=c.sampling_rate, n_fft=c.n_fft, power=2.0, fmin=c.fmin, fmax=c.fmax
            )
            audio.append(
                librosa.griffinlim(
                    stft,
                    n_iter=c.griffin_lim_iters,
                    hop_length=hop,
                    n_fft=c.n_fft,
                    length=z.shape[-1] * hop,
                    random_state=0,
                )
            )
        audio = np.stack(audio)
        out = torch.from_numpy(audio.astype(np.float32))[:, None]
        out = out.expand(-1, self.config.audio_channels, -1).to(device=z.device, dtype=z.dtype)
        return OobleckDecoderOutput(sample=out) if return_dict else (out,)


def round_trip(codec):
    """`(clip [channels, n], samplerate) -> clip` through `codec`'s encode and decode, returned at the
    clip's own rate, channels and length: what the best generation on this codec can sound like."""
    from ...audio import convert_channels, resample

    sr, channels = int(codec.config.sampling_rate), int(codec.config.audio_channels)

    def apply(clip: np.ndarray, samplerate: int) -> np.ndarray:
        x = convert_channels(resample(clip, samplerate, sr), channels).astype(np.float32)
        with torch.no_grad():
            z = codec.encode(torch.from_numpy(x)[None]).latent_dist.mean
            y = codec.decode(z).sample[0].float().numpy()
        y = np.pad(y, ((0, 0), (0, max(0, x.shape[1] - y.shape[1]))))[:, : x.shape[1]]
        y = convert_channels(resample(y, sr, samplerate), clip.shape[0])
        return np.pad(y, ((0, 0), (0, max(0, clip.shape[1] - y.shape[1]))))[:, : clip.shape[1]]

    return apply


def codec_class(location: str | Path, subfolder: str | None = "vae"):
    """The class a saved codec folder names (`AutoencoderOobleck`, `MelCodec`, ...)."""
    import diffusers

    name = MelCodec.load_config(str(location), subfolder=subfolder).get("_class_name")
    if name == MelCodec.__name__:
        return MelCodec
    cls = getattr(diffusers, str(name), None)
    if cls is None:
        raise ConfigError(f"{location}: unknown audio codec class {name!r} in its vae/config.json")
    return cls


def load_codec(location: str | Path, subfolder: str | None = "vae"):
    """Load a pipeline's audio codec with the class its config names, frozen and in eval mode."""
    cls = codec_class(location, subfolder)
    return cls.from_pretrained(str(location), subfolder=subfolder).eval().requires_grad_(False)


class _CodecTypeFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return f"got <class '{__name__}.MelCodec'>" not in record.getMessage()


@contextmanager
def quiet_codec_type_warning():
    """Drop diffusers' "Expected types for vae: AutoencoderOobleck, got MelCodec" while loading:
    the codec has the autoencoder's interface by design (this module's docstring)."""
    logger = logging.getLogger("diffusers.pipelines.pipeline_utils")
    quiet = _CodecTypeFilter()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)
