"""Spotify's Basic Pitch (ICASSP 2022, Apache-2.0) as a PyTorch module with readable names.

Layout follows basic_pitch/models.py: a fixed constant-Q front end (nnAudio's CQT2010v2: one
top-octave complex kernel applied to the signal and to 8 successive half-band downsamplings), a
normalised log magnitude, a frozen 1-channel batch norm, harmonic stacking (harmonics 0.5, 1..7),
then the learned head of 6 convolutions. The three batch norms of the head are folded into the
preceding convolutions (as in the released ONNX graph), so every learned layer is a plain Conv2d
that PEFT LoRA can wrap.

Only the head is trainable; the CQT constants are buffers. Weights come from the converted
safetensors file shipped in `assets/basic_pitch/` (see `onnx_import.py`).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

SAMPLE_RATE = 22050
FFT_HOP = 256
WINDOW_SAMPLES = 2 * SAMPLE_RATE - FFT_HOP  # 43844 samples -> 172 frames
FRAMES_PER_WINDOW = 172
FRAMES_PER_SECOND = SAMPLE_RATE / FFT_HOP  # 86.13 frames per second
MIDI_OFFSET = 21  # lowest piano key, A0
N_NOTES = 88
CONTOUR_BINS_PER_SEMITONE = 3
N_CONTOUR_BINS = N_NOTES * CONTOUR_BINS_PER_SEMITONE  # 264
HARMONICS = (0.5, 1, 2, 3, 4, 5, 6, 7)
CQT_BINS_PER_OCTAVE = 12 * CONTOUR_BINS_PER_SEMITONE  # 36
CQT_BINS = 309  # 103 semitones (up to Nyquist) x 3
CQT_OCTAVES = 9
CQT_KERNEL = 256

DEFAULT_WEIGHTS = Path(__file__).resolve().parents[2] / "assets" / "basic_pitch" / "nmp.safetensors"


class ConstantQ(nn.Module):
    """Magnitude CQT of 22.05 kHz audio: [B, T] -> [B, frames, 309 bins], hop 256, fmin 27.5 Hz."""

    def __init__(self):
        super().__init__()
        self.register_buffer("kernel_real", torch.zeros(CQT_BINS_PER_OCTAVE, 1, CQT_KERNEL))
        self.register_buffer("kernel_imag", torch.zeros(CQT_BINS_PER_OCTAVE, 1, CQT_KERNEL))
        self.register_buffer("lowpass", torch.zeros(1, 1, CQT_KERNEL))
        # sqrt(kernel length) per bin: nnAudio's "librosa" normalisation
        self.register_buffer("bin_scale", torch.zeros(CQT_BINS))

    def _octave(self, x: torch.Tensor, hop: int) -> torch.Tensor:
        padded = F.pad(x, (CQT_KERNEL // 2, CQT_KERNEL // 2), mode="reflect")
        kernels = torch.cat([self.kernel_real, self.kernel_imag])
        out = F.conv1d(padded, kernels, stride=hop)  # [B, 72, frames]
        real, imag = out.split(CQT_BINS_PER_OCTAVE, dim=1)
        return torch.stack([real, -imag], dim=-1)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        x = audio.unsqueeze(1)
        hop = FFT_HOP
        octaves = [self._octave(x, hop)]
        for _ in range(CQT_OCTAVES - 1):
            hop //= 2
            x = F.conv1d(F.pad(x, ((CQT_KERNEL - 1) // 2,) * 2), self.lowpass, stride=2)
            octaves.insert(0, self._octave(x, hop))
        cqt = torch.cat(octaves, dim=1)[:, -CQT_BINS:]  # lowest octave first
        cqt = cqt * self.bin_scale[:, None, None]
        return cqt.square().sum(-1).sqrt().transpose(1, 2)


def normalized_log(magnitude: torch.Tensor) -> torch.Tensor:
    """dB of the power, scaled to 0..1 per example (basic_pitch.layers.signal.NormalizedLog)."""
    log_power = 10 * torch.log10(magnitude.square() + 1e-10)
    log_power = log_power - log_power.amin(dim=(1, 2), keepdim=True)
    peak = log_power.amax(dim=(1, 2), keepdim=True)
    return torch.where(peak == 0, torch.zeros_like(log_power), log_power / peak)


def harmonic_stack(spec: torch.Tensor) -> torch.Tensor:
    """[B, frames, 309] -> [B, 8, frames, 264]: the CQT shifted so harmonic h of each bin aligns."""
    channels = []
    for h in HARMONICS:
        shift = round(12 * CONTOUR_BINS_PER_SEMITONE * math.log2(h))
        if shift > 0:
            shifted = F.pad(spec[..., shift:], (0, shift))
        elif shift < 0:
            shifted = F.pad(spec[..., :shift], (-shift, 0))
        else:
            shifted = spec
        channels.append(shifted[..., :N_CONTOUR_BINS])
    return torch.stack(channels, dim=1)


class BasicPitch(nn.Module):
    """Basic Pitch: 22.05 kHz mono windows [B, 43844] -> note, onset [B, 172, 88], contour [B, 172, 264].

    `forward` returns posteriorgrams (sigmoid outputs); `forward(..., logits=True)` returns the
    pre-sigmoid values for numerically stable losses.
    """

    def __init__(self):
        super().__init__()
        self.cqt = ConstantQ()
        # frozen batch norm after the CQT (folded to scale and shift, one channel)
        self.register_buffer("cqt_norm_scale", torch.ones(1))
        self.register_buffer("cqt_norm_shift", torch.zeros(1))
        n_harm = len(HARMONICS)
        self.contour_conv = nn.Conv2d(n_harm, 8, (3, 39), padding=(1, 19))
        self.contour_out = nn.Conv2d(8, 1, 5, padding=2)
        self.note_conv = nn.Conv2d(1, 32, 7, stride=(1, 3), padding=(3, 2))
        self.note_out = nn.Conv2d(32, 1, (7, 3), padding=(3, 1))
        self.onset_conv = nn.Conv2d(n_harm, 32, 5, stride=(1, 3), padding=(2, 1))
        self.onset_out = nn.Conv2d(33, 1, 3, padding=1)

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        """The fixed front end: harmonic-stacked normalised log CQT [B, 8, frames, 264]."""
        spec = normalized_log(self.cqt(audio))
        spec = spec * self.cqt_norm_scale + self.cqt_norm_shift
        return harmonic_stack(spec)

    def head(self, stacked: torch.Tensor, logits: bool = False) -> dict[str, torch.Tensor]:
        """The learned head on stacked features."""
        # channels-last makes the wide (3, 39) contour conv about 2.5x faster on CPU (oneDNN)
        stacked = stacked.contiguous(memory_format=torch.channels_last)
        contour_logit = self.contour_out(F.relu(self.contour_conv(stacked)))
        contour = torch.sigmoid(contour_logit)
        note_logit = self.note_out(F.relu(self.note_conv(contour)))
        note = torch.sigmoid(note_logit)
        onset_features = F.relu(self.onset_conv(stacked))
        onset_logit = self.onset_out(torch.cat([note, onset_features], dim=1))
        if logits:
            out = {"note": note_logit, "onset": onset_logit, "contour": contour_logit}
        else:
            out = {"note": note, "onset": torch.sigmoid(onset_logit), "contour": contour}
        return {k: v.squeeze(1) for k, v in out.items()}

    def forward(self, audio: torch.Tensor, logits: bool = False) -> dict[str, torch.Tensor]:
        if audio.dim() == 3:  # [B, T, 1] as in the Keras/ONNX model
            audio = audio.squeeze(-1)
        return self.head(self.features(audio), logits=logits)


HEAD_MODULES = ("contour_conv", "contour_out", "note_conv", "note_out", "onset_conv", "onset_out")


def load_basic_pitch(weights: str | Path | None = None) -> BasicPitch:
    """Basic Pitch with the ICASSP 2022 weights (the shipped safetensors unless `weights` is given)."""
    from safetensors.torch import load_file

    from ...errors import AudioloraError

    path = Path(weights) if weights is not None else DEFAULT_WEIGHTS
    if not path.is_file():
        raise AudioloraError(
            f"{path}: Basic Pitch weights not found (convert nmp.onnx with "
            "`python -m audiolora.families.transcription.onnx_import NMP.onnx OUT.safetensors`)"
        )
    model = BasicPitch()
    try:
        state = load_file(str(path))
        model.load_state_dict(state, strict=True)
    except Exception as exc:
        raise AudioloraError(f"{path}: not a Basic Pitch weight file ({exc})") from None
    model.requires_grad_(False)
    return model.to(memory_format=torch.channels_last).eval()
