"""A clip embedding from a real pretrained network shipped with the package: Basic Pitch
(ICASSP 2022 weights in assets/basic_pitch), pooled over time. Works offline.

Per frame (86 per second) it takes 160 values: the note posteriorgram (88 pitches, A0..C8) and the
ReLU activations of the three hidden convolutions averaged over frequency (note_conv 32 channels,
onset_conv 32, contour_conv 8); the clip's embedding is their mean and standard deviation over
frames, 320 values. Clips are prepared as in `generation.prepare` (mono, 22.05 kHz, -20 dBFS RMS)
and cut into Basic Pitch's own overlapping 2-second windows.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from .clips import prepare

HIDDEN = ("note_conv", "onset_conv", "contour_conv")
DIM = 2 * (88 + 32 + 32 + 8)


class BasicPitchEmbedder:
    """Call with a list of clips and their sample rate -> float64 embeddings [n, 320]."""

    def __init__(self, model: torch.nn.Module | None = None, batch_size: int = 8):
        from ..families.transcription.model import load_basic_pitch

        self.model = (model or load_basic_pitch()).eval()
        self.batch_size = batch_size
        self._hidden: dict[str, torch.Tensor] = {}
        for name in HIDDEN:  # the head applies ReLU in place after each: pool right away
            getattr(self.model, name).register_forward_hook(self._keep(name))

    def _keep(self, name: str):
        def hook(_module, _inputs, output):
            self._hidden[name] = F.relu(output).mean(dim=-1).transpose(1, 2)  # [B, frames, C]

        return hook

    @torch.inference_mode()
    def frames(self, audio: np.ndarray, samplerate: int) -> np.ndarray:
        """Per-frame features [frames, 160] of one clip."""
        from ..families.transcription.inference import unwrap, window_audio

        x = prepare(audio, samplerate)
        windows = window_audio(x)
        device = next(self.model.parameters()).device
        parts = []
        for i in range(0, len(windows), self.batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(windows[i : i + self.batch_size]))
            out = self.model(batch.to(device))
            hidden = [self._hidden[name] for name in HIDDEN]
            parts.append(torch.cat([out["note"], *hidden], dim=-1).float().cpu().numpy())
        return unwrap(np.concatenate(parts), len(x))

    def __call__(self, clips: Sequence[np.ndarray], samplerate: int) -> np.ndarray:
        rows = []
        for clip in clips:
            f = self.frames(clip, samplerate).astype(np.float64)
            rows.append(np.concatenate([f.mean(axis=0), f.std(axis=0)]))
        return np.stack(rows) if rows else np.zeros((0, DIM))


@lru_cache(maxsize=1)
def default_embedder() -> BasicPitchEmbedder:
    return BasicPitchEmbedder()


def basic_pitch_embeddings(clips: Sequence[np.ndarray], samplerate: int) -> np.ndarray:
    """The Basic Pitch embeddings [n, 320] of `clips` with the bundled weights."""
    return default_embedder()(clips, samplerate)
