"""Audio I/O: the one module where audio touches disk (soundfile read/write, soxr resampling).

Arrays are float32 `[channels, samples]` everywhere in audiolora. No torchaudio.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from .errors import DataError

#: Subtypes `write_audio` accepts, by their soundfile names.
SUBTYPES = ("PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE", "VORBIS", "MPEG_LAYER_III")


@dataclass(frozen=True)
class AudioInfo:
    """What the header says about a file, without reading the samples."""

    path: str
    samplerate: int
    channels: int
    frames: int
    format: str
    subtype: str

    @property
    def duration(self) -> float:
        return self.frames / self.samplerate if self.samplerate else 0.0


def audio_info(path: str | os.PathLike) -> AudioInfo:
    """Header facts of an audio file; DataError naming the file when it cannot be parsed."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such audio file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file (0 bytes); re-export or remove it")
    try:
        info = sf.info(str(path))
    except Exception as exc:  # libsndfile raises LibsndfileError / RuntimeError / TypeError
        raise DataError(
            f"{path}: unreadable audio ({_short(exc)}); re-export it as WAV or FLAC"
        ) from None
    return AudioInfo(
        str(path),
        int(info.samplerate),
        int(info.channels),
        int(info.frames),
        info.format,
        info.subtype,
    )


def read_audio(
    path: str | os.PathLike, samplerate: int | None = None, channels: int | None = None
) -> tuple[np.ndarray, int]:
    """Read a file as float32 `[channels, samples]`; resample / convert channels when asked.

    Returns `(audio, samplerate)` where samplerate is the requested one when given.
    """
    path = Path(path)
    audio_info(path)  # clear one-line errors for missing/empty/corrupt files
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:
        raise DataError(
            f"{path}: unreadable audio ({_short(exc)}); re-export it as WAV or FLAC"
        ) from None
    if data.shape[0] == 0:
        raise DataError(f"{path}: no samples in the file; re-export or remove it")
    audio = np.ascontiguousarray(data.T)
    if channels is not None:
        audio = convert_channels(audio, channels)
    if samplerate is not None and samplerate != sr:
        audio = resample(audio, sr, samplerate)
        sr = samplerate
    return audio, int(sr)


def write_audio(
    path: str | os.PathLike, audio: np.ndarray, samplerate: int, subtype: str = "FLOAT"
) -> Path:
    """Write `[channels, samples]` audio atomically (temp file in the same folder + os.replace).

    The container follows the suffix (.wav, .flac, .ogg, .mp3); where it cannot hold 32-bit float
    (FLAC, OGG, MP3) the default "FLOAT" becomes its best format (PCM_24, VORBIS, MPEG_LAYER_III).
    """
    path = Path(path)
    audio = np.asarray(audio)
    if audio.ndim == 1:
        audio = audio[None]
    if audio.ndim != 2:
        raise DataError(f"{path}: audio must be [channels, samples], got shape {audio.shape}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = _format_for(path)
    if subtype == "FLOAT" and not sf.check_format(fmt, subtype):
        subtype = "PCM_24" if fmt == "FLAC" else sf.default_subtype(fmt)
    if not sf.check_format(fmt, subtype):
        raise DataError(f"{path}: {fmt} files cannot hold {subtype} samples; pick another subtype")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with sf.SoundFile(
            tmp, "w", int(samplerate), audio.shape[0], subtype=subtype, format=fmt
        ) as f:
            _no_peak_chunk(f)
            f.write(audio.T.astype(np.float32, copy=False))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


# libsndfile's SFC_SET_ADD_PEAK_CHUNK: float WAVs otherwise carry a PEAK chunk with a wall-clock
# timestamp, so that the same audio written twice would differ in bytes. soundfile has no public call
# for this command, so it goes through soundfile's own cffi handle to libsndfile.
_SFC_SET_ADD_PEAK_CHUNK = 0x1050


def _no_peak_chunk(f: sf.SoundFile) -> None:
    try:
        sf._snd.sf_command(f._file, _SFC_SET_ADD_PEAK_CHUNK, sf._ffi.NULL, 0)
    except AttributeError:  # a soundfile without the cffi handle: bytes may then carry a timestamp
        pass


def resample(audio: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample `[channels, samples]` float32 audio with soxr (high quality)."""
    if sr_in == sr_out:
        return audio.astype(np.float32, copy=False)
    out = soxr.resample(np.ascontiguousarray(audio.T), sr_in, sr_out, quality="HQ")
    if out.ndim == 1:
        out = out[:, None]
    return np.ascontiguousarray(out.T, dtype=np.float32)


def convert_channels(audio: np.ndarray, channels: int) -> np.ndarray:
    """Mono -> N by copying, N -> mono by averaging, N -> M (M < N) by keeping the first M."""
    have = audio.shape[0]
    if have == channels:
        return audio
    if channels == 1:
        return audio.mean(axis=0, keepdims=True).astype(np.float32)
    if have == 1:
        return np.repeat(audio, channels, axis=0)
    if have > channels:
        return audio[:channels]
    raise DataError(f"cannot convert {have}-channel audio to {channels} channels")


def _format_for(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    formats = {
        "wav": "WAV",
        "flac": "FLAC",
        "ogg": "OGG",
        "mp3": "MP3",
        "aiff": "AIFF",
        "aif": "AIFF",
    }
    if suffix not in formats:
        raise DataError(f"{path}: unknown audio extension; use .wav, .flac, .ogg or .mp3")
    return formats[suffix]


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:160] or type(exc).__name__
