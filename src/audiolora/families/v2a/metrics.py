"""Picture-sound metrics of generated audio: onset F1 against visual events, a DeSync-like offset,
log-mel distance and a Fréchet distance over log-mel frames (librosa, mir_eval)."""

from __future__ import annotations

import numpy as np

HOP = 256


def detect_onsets(audio: np.ndarray, samplerate: int) -> np.ndarray:
    """Onset times (s) of mono audio with librosa's onset detector."""
    import librosa

    return librosa.onset.onset_detect(
        y=np.asarray(audio, dtype=np.float32), sr=samplerate, hop_length=HOP, units="time"
    )


def onset_f1(events: list[float], audio: np.ndarray, samplerate: int, window: float) -> float:
    """F1 of detected onsets against visual event times, matched within `window` seconds."""
    import mir_eval

    est = detect_onsets(audio, samplerate)
    ref = np.asarray(events, dtype=float)
    if len(ref) == 0 and len(est) == 0:
        return 1.0
    if len(ref) == 0 or len(est) == 0:
        return 0.0
    return float(mir_eval.onset.f_measure(ref, est, window=window)[0])


def sync_offset_ms(
    events: list[float], audio: np.ndarray, samplerate: int, max_lag: float = 0.5
) -> float | None:
    """Lag (ms, + = sound late) maximising the cross-correlation of the visual event train with the
    onset strength of the audio; None without events."""
    import librosa

    if not events:
        return None
    env = librosa.onset.onset_strength(
        y=np.asarray(audio, np.float32), sr=samplerate, hop_length=HOP
    )
    env = env - env.mean()
    fps = samplerate / HOP
    train = np.zeros_like(env)
    for t in events:
        i = int(round(t * fps))
        if i < len(train):
            train[i] = 1.0
    lags = np.arange(-int(max_lag * fps), int(max_lag * fps) + 1)
    scores = [
        float(
            np.dot(train[max(0, -k) : len(env) - max(0, k)], env[max(0, k) : len(env) - max(0, -k)])
        )
        for k in lags
    ]
    return float(lags[int(np.argmax(scores))] / fps * 1000)


def log_mel(audio: np.ndarray, samplerate: int, n_mels: int = 64) -> np.ndarray:
    """[frames, n_mels] log-mel spectrogram."""
    import librosa

    mel = librosa.feature.melspectrogram(
        y=np.asarray(audio, np.float32), sr=samplerate, hop_length=HOP, n_fft=1024, n_mels=n_mels
    )
    return np.log(mel + 1e-5).T


def log_mel_distance(a: np.ndarray, b: np.ndarray, samplerate: int) -> float:
    """Mean absolute difference of the two log-mel spectrograms (nats)."""
    la, lb = log_mel(a, samplerate), log_mel(b, samplerate)
    n = min(len(la), len(lb))
    return float(np.abs(la[:n] - lb[:n]).mean())


def frechet_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to feature rows of `x` and `y` [N, D]."""
    from scipy import linalg

    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean, _ = linalg.sqrtm(s1 @ s2, disp=False)
    covmean = np.real(covmean)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))
