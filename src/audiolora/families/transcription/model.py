"""Spotify's Basic Pitch (ICASSP 2022, Apache-2.0) as a PyTorch module with readable names.

Layout follows basic_pitch/models.py: a fixed constant-Q front end (nnAudio's CQT2010v2: one
top-octave complex kernel applied to the signal and to 8 successive half-band downsamplings), a
normalised log magnitude, a frozen 1-channel batch norm, harmonic stacking (harmonics 0.5, 1..7),
then the learned head of 6 convolutions. The three batch norms of the head are folded into the
preceding convolutions (as in the released ONNX graph), so every learned layer is a Conv2d that
PEFT LoRA can wrap.

Speed (CPU, oneDNN): the same sums as the ONNX graph, arranged so that convolutions have at least
16 output channels to fill the vector units - the lowpass as 16 output phases (it was a 1-in,
1-out convolution), the three 1-output head convolutions with kernel rows as output channels
(`NarrowConv2d`), the 8 -> 8 contour convolution on column pairs (`PhaseConv2d`) - and with the
head's tensors channels-last throughout. `bench/transcribe_speed.py` compares it with onnxruntime.

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


_DOWN_PHASES = 16


def _downsample_index() -> torch.Tensor:
    """Index into the lowpass taps (256 = a zero) for the phase kernels [16, 256 + 30]."""
    k = torch.arange(CQT_KERNEL + 2 * (_DOWN_PHASES - 1)) - 2 * torch.arange(_DOWN_PHASES)[:, None]
    return torch.where((k >= 0) & (k < CQT_KERNEL), k, CQT_KERNEL)


_DOWN_INDEX = _downsample_index()


class ConstantQ(nn.Module):
    """Magnitude CQT of 22.05 kHz audio: [B, T] -> [B, frames, 309 bins], hop 256, fmin 27.5 Hz."""

    def __init__(self):
        super().__init__()
        self.register_buffer("kernel_real", torch.zeros(CQT_BINS_PER_OCTAVE, 1, CQT_KERNEL))
        self.register_buffer("kernel_imag", torch.zeros(CQT_BINS_PER_OCTAVE, 1, CQT_KERNEL))
        self.register_buffer("lowpass", torch.zeros(1, 1, CQT_KERNEL))
        # sqrt(kernel length) per bin: nnAudio's "librosa" normalisation
        self.register_buffer("bin_scale", torch.zeros(CQT_BINS))

    def _octave(self, x: torch.Tensor, kernels: torch.Tensor, hop: int) -> torch.Tensor:
        """One octave's complex response: [B, 1, T] -> [B, 72 (36 real, 36 imaginary), frames]."""
        padded = F.pad(x, (CQT_KERNEL // 2, CQT_KERNEL // 2), mode="reflect")
        return F.conv1d(padded, kernels, stride=hop)

    def lowpass_phases(self) -> torch.Tensor:
        """The lowpass as 16 phase kernels [16, 1, 256 + 30]: phase r is delayed by 2r samples."""
        taps = torch.cat([self.lowpass.reshape(-1), self.lowpass.new_zeros(1)])
        return taps[_DOWN_INDEX.to(taps.device)].unsqueeze(1)

    def _downsample(self, x: torch.Tensor, phases: torch.Tensor) -> torch.Tensor:
        """Half-band lowpass and decimate by 2 with zero padding: [B, 1, T] -> [B, 1, (T - 2) // 2 + 1].

        The same sums as conv1d(pad(x, 127), lowpass, stride=2) (bit-identical with oneDNN here),
        computed as 16 output phases: channel r of `phases` holds the lowpass delayed by 2r, applied
        with stride 32. A 1-in, 1-out convolution uses oneDNN's vector units poorly (16x slower; it
        was the front end's largest cost).
        """
        length = x.shape[-1]
        n_out = (length - 2) // 2 + 1
        blocks = -(-n_out // _DOWN_PHASES)
        needed = 2 * _DOWN_PHASES * (blocks - 1) + phases.shape[-1]
        pad = (CQT_KERNEL - 1) // 2
        out = F.conv1d(F.pad(x, (pad, needed - length - pad)), phases, stride=2 * _DOWN_PHASES)
        # [B, 16 phases, blocks] -> [B, 1, blocks * 16]: output 16 * m + r is phase r of block m
        return out.transpose(1, 2).reshape(x.shape[0], 1, -1)[..., :n_out]

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        x = audio.unsqueeze(1)
        kernels = torch.cat([self.kernel_real, self.kernel_imag])
        phases = self.lowpass_phases()
        hop = FFT_HOP
        octaves = [self._octave(x, kernels, hop)]
        for _ in range(CQT_OCTAVES - 1):
            hop //= 2
            x = self._downsample(x, phases)
            octaves.insert(0, self._octave(x, kernels, hop))  # lowest octave first
        complex_parts = torch.cat(octaves, dim=1).unflatten(1, (CQT_OCTAVES, 2, -1))
        power = complex_parts.square().sum(2).flatten(1, 2)[:, -CQT_BINS:]
        return (power.sqrt() * self.bin_scale[:, None]).transpose(1, 2)


def normalized_log(magnitude: torch.Tensor) -> torch.Tensor:
    """dB of the power, scaled to 0..1 per example (basic_pitch.layers.signal.NormalizedLog)."""
    log_power = 10 * torch.log10(magnitude.square() + 1e-10)
    log_power = log_power - log_power.amin(dim=(1, 2), keepdim=True)
    peak = log_power.amax(dim=(1, 2), keepdim=True)
    return torch.where(peak == 0, torch.zeros_like(log_power), log_power / peak)


_HARMONIC_SHIFTS = [round(CQT_BINS_PER_OCTAVE * math.log2(h)) for h in HARMONICS]
_HARMONIC_LEFT = max(0, -min(_HARMONIC_SHIFTS))
_HARMONIC_RIGHT = max(0, N_CONTOUR_BINS + max(_HARMONIC_SHIFTS) - CQT_BINS)


def harmonic_stack(spec: torch.Tensor) -> torch.Tensor:
    """[B, frames, 309] -> [B, 8, frames, 264]: the CQT shifted so harmonic h of each bin aligns
    (bins shifted past either end are zero). Channels-last in memory, as the head wants it."""
    padded = F.pad(spec, (_HARMONIC_LEFT, _HARMONIC_RIGHT))
    starts = [_HARMONIC_LEFT + shift for shift in _HARMONIC_SHIFTS]
    stacked = torch.stack([padded[..., s : s + N_CONTOUR_BINS] for s in starts], dim=-1)
    return stacked.permute(0, 3, 1, 2)


class NarrowConv2d(nn.Conv2d):
    """A Conv2d with few output channels (here one), computed with each kernel row as its own
    output channel and the shifted rows summed: the same function, but oneDNN's convolution pads
    output channels to its vector width, so 1 output channel wasted most of the work (3-5x slower).
    Needs stride 1 along the first spatial axis. PEFT/LoRA treat it as the Conv2d it is."""

    def _conv_forward(self, input, weight, bias):  # noqa: A002 - torch's signature
        out_ch, _, rows, _ = weight.shape
        if (
            self.stride[0] != 1
            or self.dilation[0] != 1
            or self.groups != 1
            or isinstance(self.padding, str)  # 'same' would be worked out for 1-row kernels
            or input.dim() != 4
            or rows < 2
        ):
            return super()._conv_forward(input, weight, bias)
        # [out, in, rows, cols] -> [rows * out, in, 1, cols], row-major; the bias on row 0 only
        per_row = weight.permute(2, 0, 1, 3).reshape(rows * out_ch, weight.shape[1], 1, -1)
        if bias is not None:
            bias = torch.cat([bias, bias.new_zeros((rows - 1) * out_ch)])
        z = super()._conv_forward(input, per_row, bias)  # [B, rows * out, H + rows - 1, W]
        # out[b, o, h, w] = sum over rows i of z[b, i * out + o, h + i, w]: one strided view
        batch, _, height, width = z.shape
        s_b, s_c, s_h, s_w = z.stride()
        shifted = z.as_strided(
            (batch, out_ch, height - rows + 1, width, rows),
            (s_b, s_c, s_h, s_w, out_ch * s_c + s_h),
            z.storage_offset(),
        )
        return shifted.sum(-1)


class PhaseConv2d(nn.Conv2d):
    """A stride-1 Conv2d with few channels, computed on pairs of columns: the input's column pairs
    become 2x the channels (a free view of a channels-last tensor), the kernel is rewritten to
    match, and the output pairs are split back (a free view again). Same sums, but 8 -> 8 channels
    become 16 -> 16, which fills oneDNN's 16-float vectors: about 1.8x faster for the (3, 39)
    contour convolution. PEFT/LoRA treat it as the Conv2d it is."""

    PHASES = 2

    def _conv_forward(self, input, weight, bias):  # noqa: A002 - torch's signature
        if (
            self.stride != (1, 1)
            or self.dilation != (1, 1)
            or self.groups != 1
            or self.padding_mode != "zeros"
            or isinstance(self.padding, str)
            or input.dim() != 4
        ):
            return super()._conv_forward(input, weight, bias)
        p = self.PHASES
        out_ch, in_ch, rows, cols = weight.shape
        batch, _, height, width = input.shape
        pad_h, pad_w = self.padding
        out_h, out_w = height + 2 * pad_h - rows + 1, width + 2 * pad_w - cols + 1
        taps = (cols + p - 2) // p + 1  # kernel columns in units of column pairs
        pairs = -(-out_w // p)
        padded_w = p * (pairs + taps - 1)
        x = F.pad(input, (pad_w, padded_w - width - pad_w, pad_h, pad_h))
        x = x.contiguous(memory_format=torch.channels_last)  # [B, H', W', C] in memory
        x = x.permute(0, 2, 3, 1).reshape(batch, x.shape[2], padded_w // p, p * in_ch)
        # kernel[(out phase a, o), (in phase b, c), i, d] = weight[o, c, i, p * d + b - a]
        a = torch.arange(p, device=weight.device).view(p, 1, 1)
        b = torch.arange(p, device=weight.device).view(1, p, 1)
        d = torch.arange(taps, device=weight.device).view(1, 1, taps)
        col = p * d + b - a  # [p, p, taps]
        valid = ((col >= 0) & (col < cols)).to(weight.dtype)
        kernel = weight[..., col.clamp(0, cols - 1)] * valid  # [O, C, rows, p, p, taps]
        kernel = kernel.permute(3, 0, 4, 1, 2, 5).reshape(p * out_ch, p * in_ch, rows, taps)
        y = F.conv2d(x.permute(0, 3, 1, 2), kernel, None if bias is None else bias.repeat(p))
        y = y.permute(0, 2, 3, 1).reshape(batch, out_h, pairs * p, out_ch)[:, :, :out_w]
        return y.permute(0, 3, 1, 2)


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
        self.contour_conv = PhaseConv2d(n_harm, 8, (3, 39), padding=(1, 19))
        self.contour_out = NarrowConv2d(8, 1, 5, padding=2)
        self.note_conv = nn.Conv2d(1, 32, 7, stride=(1, 3), padding=(3, 2))
        self.note_out = NarrowConv2d(32, 1, (7, 3), padding=(3, 1))
        self.onset_conv = nn.Conv2d(n_harm, 32, 5, stride=(1, 3), padding=(2, 1))
        self.onset_out = NarrowConv2d(33, 1, 3, padding=1)

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        """The fixed front end: harmonic-stacked normalised log CQT [B, 8, frames, 264]."""
        spec = normalized_log(self.cqt(audio))
        spec = spec * self.cqt_norm_scale + self.cqt_norm_shift
        return harmonic_stack(spec)

    def head(self, stacked: torch.Tensor, logits: bool = False) -> dict[str, torch.Tensor]:
        """The learned head on stacked features."""
        # channels-last makes the wide (3, 39) contour conv about 4x faster on CPU (oneDNN)
        stacked = stacked.contiguous(memory_format=torch.channels_last)
        contour_logit = self.contour_out(F.relu(self.contour_conv(stacked), inplace=True))
        contour = torch.sigmoid(contour_logit)
        note_logit = self.note_out(F.relu(self.note_conv(contour), inplace=True))
        note = torch.sigmoid(note_logit)
        onset_features = F.relu(self.onset_conv(stacked), inplace=True)
        # concatenated channels-last (torch.cat of [B, 1, ...] and a channels-last tensor is not)
        both = torch.cat([note.permute(0, 2, 3, 1), onset_features.permute(0, 2, 3, 1)], dim=-1)
        onset_logit = self.onset_out(both.permute(0, 3, 1, 2))
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
