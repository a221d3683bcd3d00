"""Separation losses: L1 / L2 on waveforms, multi-resolution STFT and SDR (auraloss), per-source
weights."""

from __future__ import annotations

import functools

import torch

from ...errors import ConfigError

# Hops of a quarter window: auraloss's defaults (hops ~1/9 of the FFT) cost 2.6x as much per step
# on CPU, more than the htdemucs-mini forward and backward themselves.
FFT_SIZES = (2048, 1024, 512)


@functools.cache
def _mrstft():
    import auraloss

    return auraloss.freq.MultiResolutionSTFTLoss(
        fft_sizes=list(FFT_SIZES),
        hop_sizes=[n // 4 for n in FFT_SIZES],
        win_lengths=list(FFT_SIZES),
    )


def _per_source(estimate: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """[B, S, C, T] pair -> loss per source [S]."""
    if kind == "l1":
        return (estimate - target).abs().mean(dim=(0, 2, 3))
    if kind == "l2":
        return (estimate - target).pow(2).mean(dim=(0, 2, 3))
    if kind == "mrstft":
        loss = _mrstft()
        b, s, c, t = estimate.shape
        est = estimate.transpose(0, 1).reshape(s, b * c, 1, t)
        ref = target.transpose(0, 1).reshape(s, b * c, 1, t)
        return torch.stack([loss(est[i], ref[i]) for i in range(s)])
    if kind == "sdr":
        return _negative_sdr(estimate, target)
    raise ConfigError(f"separation.loss={kind}: use l1, l2, mrstft, l1+mrstft, sdr or l1+sdr")


@functools.cache
def _snr():
    import auraloss

    # zero_mean off: the evaluation's SDR (MDX) does not remove the mean either.
    return auraloss.time.SNRLoss(zero_mean=False, reduction="none")


def _negative_sdr(estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """-SDR in dB per source, over the items and channels whose target is not silent.

    In dB, every stem's relative error counts alike whatever its level: under L1 a quiet stem
    (a hi-hat 20 dB under the kick) adds little, and an estimate of silence is its cheapest
    answer. A silent target's segment gives auraloss a constant, hence no gradient; those
    segments are left out of the mean so that they do not dilute it.
    """
    per = _snr()(estimate, target)  # [B, S, C]
    audible = (target.pow(2).mean(-1) > 1e-8).to(per.dtype)
    return (per * audible).sum(dim=(0, 2)) / audible.sum(dim=(0, 2)).clamp_min(1.0)


def separation_loss(
    estimate: torch.Tensor, target: torch.Tensor, options, sources: list[str]
) -> torch.Tensor:
    """Weighted mean over sources of the configured loss (`options` is the model config section)."""
    if estimate.shape != target.shape:
        raise ValueError(
            f"estimate {tuple(estimate.shape)} and target {tuple(target.shape)} differ"
        )
    unknown = [s for s in options.source_weights if s not in sources]
    if unknown:
        raise ConfigError(
            f"separation.source_weights: {unknown[0]!r} is not a stem ({', '.join(sources)})"
        )
    weights = torch.tensor(
        [float(options.source_weights.get(s, 1.0)) for s in sources], device=estimate.device
    )
    per = _per_source(estimate, target, options.loss.split("+")[0])
    if options.loss.startswith("l1+"):  # l1+mrstft, l1+sdr: the second term at its own weight
        second = options.loss.split("+")[1]
        per = per + getattr(options, f"{second}_weight") * _per_source(estimate, target, second)
    return (per * weights).sum() / weights.sum().clamp_min(1e-12)
