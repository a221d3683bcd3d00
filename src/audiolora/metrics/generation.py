"""Generation metrics on audio arrays: log-mel spectral distance, audio feature distance (AFD) and a
Fréchet distance on embeddings; `compare_systems` reports base vs adapted as seed 001 does.

Every clip is analysed the same way: mono (channel mean), resampled to 22.05 kHz and scaled to an
RMS of -20 dBFS (silence stays silent), so that the distances measure spectral shape and timbre,
not loudness. Nothing here loads a model; `compare_systems` takes the embedding as a callable
(default: the Basic Pitch embedding of `audiolora.metrics.embeddings`, imported only then).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import DataError
from .clips import SAMPLE_RATE, prepare

N_FFT, HOP, N_MELS = 2048, 512, 64
DB_FLOOR = -80.0  # dB re full-scale power; quieter mel bins count as this
N_MFCC = 20
# AFD feature groups: [first, last) columns in the vector and the fixed scale that divides them.
# The scales bring each group to about unit size on rendered music (measured on pop4, techhouse5
# and traditional renders) so that no group outweighs the others in the cosine; they are constants,
# never fitted to the sets being compared.
AFD_GROUPS = {
    "mfcc_mean": 25.0,  # c1..c19 (c0, the loudness, left out)
    "mfcc_std": 10.0,
    "chroma_mean": 0.5,
    "chroma_std": 0.5,
    "contrast_mean": 30.0,  # 7 bands, dB
    "contrast_std": 5.0,
    "centroid": 1500.0,  # mean and std, Hz
}

Clips = Sequence[np.ndarray]


def log_mel(audio: np.ndarray, samplerate: int) -> np.ndarray:
    """Log-mel power spectrogram [64 bands, frames] in dB (n_fft 2048, hop 512, floor -80 dB)."""
    import librosa

    x = prepare(audio, samplerate)
    mel = librosa.feature.melspectrogram(
        y=x, sr=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS, power=2.0
    )
    return np.maximum(10 * np.log10(np.maximum(mel, 1e-12)), DB_FLOOR)


def log_mel_distance(a: np.ndarray, b: np.ndarray, samplerate: int) -> float:
    """Paired clips: per frame the RMS over mel bands of the dB difference, averaged over frames
    (dB). The longer clip is cut to the shorter one."""
    ma, mb = log_mel(a, samplerate), log_mel(b, samplerate)
    n = min(ma.shape[1], mb.shape[1])
    return float(np.sqrt(np.mean((ma[:, :n] - mb[:, :n]) ** 2, axis=0)).mean())


def mean_log_mel(clips: Clips, samplerate: int) -> np.ndarray:
    """A set's mean log-mel spectrum [64] (dB): the mean over all frames of all clips."""
    _check_set(clips, "clips")
    frames = np.concatenate([log_mel(c, samplerate) for c in clips], axis=1)
    return frames.mean(axis=1)


def set_log_mel_distance(a: Clips, b: Clips, samplerate: int) -> float:
    """Unpaired sets: the RMS over mel bands of the difference of the mean log-mel spectra (dB)."""
    return float(np.sqrt(np.mean((mean_log_mel(a, samplerate) - mean_log_mel(b, samplerate)) ** 2)))


def afd_features(audio: np.ndarray, samplerate: int) -> np.ndarray:
    """The 78 AFD features of one clip, in AFD_GROUPS order: mean and std over frames of MFCC
    c1..c19 (20 MFCCs on 128 mel bands), chroma_stft (12), spectral_contrast (7 bands) and
    spectral_centroid (Hz), each group divided by its fixed scale (librosa, n_fft 2048, hop 512)."""
    import librosa

    x = prepare(audio, samplerate)
    kw = {"sr": SAMPLE_RATE, "n_fft": N_FFT, "hop_length": HOP}
    spec = np.abs(librosa.stft(x, n_fft=N_FFT, hop_length=HOP)) ** 2
    mel_db = librosa.power_to_db(librosa.feature.melspectrogram(S=spec, sr=SAMPLE_RATE))
    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=N_MFCC)[1:]
    chroma = librosa.feature.chroma_stft(S=spec, **kw)
    contrast = librosa.feature.spectral_contrast(S=np.sqrt(spec), **kw)
    centroid = librosa.feature.spectral_centroid(S=np.sqrt(spec), **kw)[0]
    groups = {
        "mfcc_mean": mfcc.mean(axis=1),
        "mfcc_std": mfcc.std(axis=1),
        "chroma_mean": chroma.mean(axis=1),
        "chroma_std": chroma.std(axis=1),
        "contrast_mean": contrast.mean(axis=1),
        "contrast_std": contrast.std(axis=1),
        "centroid": np.array([centroid.mean(), centroid.std()]),
    }
    return np.concatenate([groups[k] / AFD_GROUPS[k] for k in AFD_GROUPS]).astype(np.float64)


def afd_matrix(clips: Clips, samplerate: int) -> np.ndarray:
    _check_set(clips, "clips")
    return np.stack([afd_features(c, samplerate) for c in clips])


def cosine_distance_of_means(a: np.ndarray, b: np.ndarray) -> float:
    """1 - cosine similarity of the mean rows of two feature matrices [n, D], [m, D]."""
    ma, mb = np.asarray(a, np.float64).mean(axis=0), np.asarray(b, np.float64).mean(axis=0)
    denom = np.linalg.norm(ma) * np.linalg.norm(mb)
    if denom == 0:
        raise DataError("audio feature distance: a set's mean feature vector is all zeros")
    return float(max(0.0, 1.0 - float(ma @ mb) / denom))


def audio_feature_distance(a: Clips, b: Clips, samplerate: int) -> float:
    """Seed 001's AFD: cosine distance between the two sets' mean AFD feature vectors (0..2)."""
    return cosine_distance_of_means(afd_matrix(a, samplerate), afd_matrix(b, samplerate))


def frechet_distance(a: np.ndarray, b: np.ndarray, eps: float = 1e-6) -> float:
    """Fréchet distance between Gaussians fitted to two embedding sets [n, D], [m, D] (n, m >= 2).

    ||mu_a - mu_b||^2 + tr(S_a) + tr(S_b) - 2 tr((S_a^1/2 S_b S_a^1/2)^1/2), with eps * I added to
    both covariances (few samples give singular ones). The trace term uses the symmetric form,
    equal to tr((S_a S_b)^1/2), through eigendecompositions: real, and symmetric in a and b.
    """
    from scipy.linalg import eigh

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise DataError(
            f"Fréchet distance needs [n, D] and [m, D] embeddings, got {a.shape}, {b.shape}"
        )
    if len(a) < 2 or len(b) < 2:
        raise DataError("Fréchet distance needs at least 2 clips per set")
    eye = np.eye(a.shape[1])
    sa = np.cov(a, rowvar=False) + eps * eye
    sb = np.cov(b, rowvar=False) + eps * eye
    w, v = eigh(sa)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = eigh(root_a @ sb @ root_a, eigvals_only=True)
    trace_sqrt = float(np.sqrt(np.clip(inner, 0, None)).sum())
    diff = a.mean(axis=0) - b.mean(axis=0)
    return float(max(0.0, diff @ diff + np.trace(sa) + np.trace(sb) - 2 * trace_sqrt))


def change_pct(base: float, adapted: float) -> float | None:
    """(adapted - base) / |base| in %; None when the base is 0."""
    return None if base == 0 else round(100.0 * (adapted - base) / abs(base), 2)


def compare_systems(
    references: Clips,
    base_clips: Clips,
    adapted_clips: Clips,
    sr: int,
    embed: Callable[[Clips, int], np.ndarray] | None = None,
    style: Any | None = None,
    style_label: str | None = None,
) -> dict[str, dict[str, float | None]]:
    """Each metric of the base's and the adapted model's clips against the reference set, with the
    change in %: `afd` (cosine, lower is closer), `log_mel` (dB, set-level), `frechet` (on
    `embed(clips, sr)`, default the Basic Pitch embedding) and, given a fitted `style` classifier
    (audiolora.metrics.style), `style_accuracy`: the share of clips it labels `style_label`."""
    for name, clips in (
        ("references", references),
        ("base", base_clips),
        ("adapted", adapted_clips),
    ):
        _check_set(clips, name)
    if embed is None:
        from .embeddings import basic_pitch_embeddings as embed
    ref_afd = afd_matrix(references, sr)
    ref_emb = embed(references, sr)
    out: dict[str, dict[str, float | None]] = {}
    rows: dict[str, dict[str, float]] = {}
    for system, clips in (("base", base_clips), ("adapted", adapted_clips)):
        emb = embed(clips, sr)
        rows[system] = {
            "afd": cosine_distance_of_means(ref_afd, afd_matrix(clips, sr)),
            "log_mel": set_log_mel_distance(references, clips, sr),
            "frechet": frechet_distance(ref_emb, emb),
        }
        if style is not None:
            label = style_label or style.labels[-1]
            rows[system]["style_accuracy"] = float(np.mean(style.predict_clips(clips, sr) == label))
    for metric in rows["base"]:
        base, adapted = rows["base"][metric], rows["adapted"][metric]
        out[metric] = {"base": base, "adapted": adapted, "change_pct": change_pct(base, adapted)}
    return out


def _check_set(clips: Clips, name: str) -> None:
    if len(clips) == 0:
        raise DataError(f"{name}: an empty set of clips")
