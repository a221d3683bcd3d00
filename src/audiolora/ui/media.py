"""Pictures and previews for the UI: waveform, spectrogram and piano-roll PNGs, the loss curve, and
a FluidSynth rendering of transcribed notes. Written atomically (temp file + os.replace)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def _figure(width: float = 8, height: float = 2.2):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt, *plt.subplots(figsize=(width, height), dpi=90)


def _save(plt, fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def waveform_png(
    audio: np.ndarray, samplerate: int, path: str | os.PathLike, title: str = ""
) -> Path:
    """Min/max envelope of `[C, T]` audio (channels overlaid), at most ~2000 columns."""
    audio = np.atleast_2d(np.asarray(audio, dtype=np.float32))
    plt, fig, ax = _figure()
    cols = max(1, audio.shape[1] // 2000)
    usable = audio[:, : audio.shape[1] // cols * cols].reshape(audio.shape[0], -1, cols)
    t = np.arange(usable.shape[1]) * cols / samplerate
    for ch in usable:
        ax.fill_between(t, ch.min(axis=1), ch.max(axis=1), linewidth=0, alpha=0.6)
    ax.set_xlim(0, max(t[-1] if len(t) else 0, 1e-3))
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlabel("seconds")
    ax.set_title(title, fontsize=10)
    return _save(plt, fig, path)


def spectrogram_png(
    audio: np.ndarray, samplerate: int, path: str | os.PathLike, title: str = ""
) -> Path:
    """Log-frequency power spectrogram (librosa STFT, dB) of the channel mean."""
    import librosa
    import librosa.display

    mono = np.atleast_2d(np.asarray(audio, dtype=np.float32)).mean(axis=0)
    db = librosa.amplitude_to_db(np.abs(librosa.stft(mono, n_fft=2048, hop_length=512)), ref=np.max)
    plt, fig, ax = _figure(height=3.2)
    librosa.display.specshow(db, sr=samplerate, hop_length=512, x_axis="time", y_axis="log", ax=ax)
    ax.set_title(title, fontsize=10)
    return _save(plt, fig, path)


def piano_roll_png(notes: Sequence, path: str | os.PathLike, title: str = "") -> Path:
    """Notes (objects with start, end, pitch, amplitude) as bars: time x MIDI pitch."""
    plt, fig, ax = _figure(height=3.5)
    for n in notes:
        ax.broken_barh(
            [(n.start, max(n.end - n.start, 1e-3))],
            (n.pitch - 0.4, 0.8),
            facecolors=plt.cm.viridis(float(getattr(n, "amplitude", 0.8))),
        )
    if notes:
        pitches = [n.pitch for n in notes]
        ax.set_ylim(min(pitches) - 2, max(pitches) + 2)
        ax.set_xlim(0, max(n.end for n in notes))
    ax.set_xlabel("seconds")
    ax.set_ylabel("MIDI pitch")
    ax.set_title(title or f"{len(notes)} notes", fontsize=10)
    return _save(plt, fig, path)


def loss_png(steps: Sequence[int], losses: Sequence[float], evals: Sequence[dict], path) -> Path:
    """Training loss per logged step and the validation loss at each evaluation."""
    plt, fig, ax = _figure(height=3.2)
    ax.plot(steps, losses, "o-" if len(steps) < 30 else "-", markersize=3, label="train loss")
    val = [(e["step"], e["loss"]) for e in evals if "loss" in e]
    if val:
        ax.plot(*zip(*val, strict=True), "s--", markersize=4, label="validation loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right")
    return _save(plt, fig, path)


def render_notes(
    notes: Sequence, path: str | os.PathLike, samplerate: int = 22050, program: int = 4
) -> Path:
    """Notes played by one General MIDI program through libfluidsynth, peak-normalised to -1 dBFS."""
    from ..audio import write_audio
    from ..data.render.synth import Note, Part, find_soundfont, render_parts

    part = Part(
        "preview",
        program,
        [
            Note(
                float(n.start),
                float(max(n.end, n.start + 0.01)),
                int(n.pitch),
                max(1, min(127, n.velocity)),
            )
            for n in notes
        ],
    )
    seconds = (max((n.end for n in notes), default=0.0)) + 1.0
    audio = render_parts([part], seconds, find_soundfont(), samplerate)
    peak = float(np.max(np.abs(audio)))
    if peak > 0:
        audio = audio * (10 ** (-1 / 20) / peak)
    return write_audio(path, audio.astype(np.float32), samplerate)
