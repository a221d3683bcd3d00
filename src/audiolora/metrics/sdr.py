"""Source-to-distortion ratios in the two conventions music separation papers report.

- `sdr_mdx`: the MDX challenge's "new" SDR, 10 log10(|s|^2 / |s - s_hat|^2) over a whole track
  (the formula of demucs.evaluate.new_sdr, with the same 1e-7 guard).
- `sdr_bsseval_v4`: the MUSDB18 convention, BSSEval v4 image SDR on 1 s frames, median over the
  frames that are not NaN (museval's aggregation).

Why not call museval for v4: in image mode its SDR is |s_true|^2 / |e_spat + e_interf + e_artif|^2
and the three error terms sum to s_hat - s (see museval.metrics._bss_decomp_mtifilt), so the
512-tap projections it computes cost minutes per track yet cancel out of SDR. We compute the same
numbers directly, with museval's framing and its silent-frame rule (a frame where any reference or
any estimate is silent is NaN for every source); tests check equality with museval on the same arrays.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np
import torch

EPS = 1e-7


def _as_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def _pair(references, estimates) -> tuple[np.ndarray, np.ndarray]:
    ref = _as_numpy(references)
    est = _as_numpy(estimates)
    if ref.shape != est.shape:
        raise ValueError(f"reference {ref.shape} and estimate {est.shape} differ in shape")
    return ref, est


def sdr_mdx(references, estimates) -> np.ndarray:
    """MDX "new" SDR per source; arrays [S, C, T] (or [C, T] for one source) -> [S] (or scalar)."""
    ref, est = _pair(references, estimates)
    axes = tuple(range(ref.ndim - 2, ref.ndim))
    num = np.sum(ref**2, axis=axes) + EPS
    den = np.sum((ref - est) ** 2, axis=axes) + EPS
    return 10 * np.log10(num / den)


def _frames(length: int, window: int, hop: int) -> list[slice]:
    """museval's Framing: windows of `window` samples every `hop`, the last one complete."""
    count = int(np.floor((length - window + hop) / hop)) if window < length else 1
    return [slice(i * hop, min(i * hop + window, length)) for i in range(count)]


def _any_silent(block: np.ndarray) -> bool:
    """museval's rule: a source is silent in a frame when its channel sum is zero throughout."""
    return bool(np.any(np.all(block.sum(axis=1) == 0, axis=1)))


def bsseval_v4_frames(references, estimates, samplerate: int) -> np.ndarray:
    """BSSEval v4 image SDR per source and 1 s frame: [S, C, T] arrays -> [S, frames] (NaN = skipped)."""
    ref, est = _pair(references, estimates)
    frames = _frames(ref.shape[-1], samplerate, samplerate)
    out = np.full((ref.shape[0], len(frames)), np.nan)
    for t, win in enumerate(frames):
        r, e = ref[..., win], est[..., win]
        if _any_silent(r) or _any_silent(e):
            continue
        num = np.sum(r**2, axis=(1, 2))
        den = np.sum((e - r) ** 2, axis=(1, 2))
        with np.errstate(divide="ignore"):
            out[:, t] = np.where(den == 0, np.inf, 10 * np.log10(num / np.where(den == 0, 1, den)))
    return out


def sdr_bsseval_v4(references, estimates, samplerate: int) -> np.ndarray:
    """MUSDB convention: median over 1 s frames of BSSEval v4 SDR, per source -> [S] (NaN if none)."""
    frames = bsseval_v4_frames(references, estimates, samplerate)
    out = np.full(frames.shape[0], np.nan)
    for i, row in enumerate(frames):
        valid = row[~np.isnan(row)]
        if valid.size:
            out[i] = float(np.median(valid))
    return out


def ideal_ratio_mask(stems: torch.Tensor, n_fft: int = 2048, hop: int = 512) -> torch.Tensor:
    """Oracle estimates: each stem as mix * |S_i|^2 / sum_j |S_j|^2 (power IRM), `[S, C, T]` in and out.

    The bound a masking separator cannot pass with this STFT (used to tell a hard stem from a weak
    model, scripts/stem_diagnostics.py).
    """
    window = torch.hann_window(n_fft, dtype=stems.dtype)
    flat = stems.reshape(-1, stems.shape[-1])
    spec = torch.stft(flat, n_fft, hop, window=window, return_complex=True)
    spec = spec.reshape(*stems.shape[:2], *spec.shape[-2:])
    power = spec.abs() ** 2
    masked = power / (power.sum(0, keepdim=True) + 1e-12) * spec.sum(0, keepdim=True)
    out = torch.istft(
        masked.reshape(-1, *masked.shape[-2:]), n_fft, hop, window=window, length=flat.shape[-1]
    )
    return out.reshape(stems.shape)


@functools.cache
def museval_metrics():
    """museval's `metrics` module, the reference implementation (used by the tests).

    `import museval` pulls in musdb -> stempeg, which refuses to import without an ffmpeg binary;
    the metrics module itself is numpy/scipy only, so load that one file when ffmpeg is missing.
    """
    try:
        import museval.metrics as metrics

        return metrics
    except Exception:
        spec = importlib.util.find_spec("museval")
        if spec is None or spec.origin is None:
            raise ImportError("museval is not installed: pip install museval") from None
        path = Path(spec.origin).with_name("metrics.py")
        module_spec = importlib.util.spec_from_file_location("audiolora._museval_metrics", path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        return module
