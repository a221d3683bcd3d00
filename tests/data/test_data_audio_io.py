"""audiolora.audio: read/write round trips, resampling, channels, one-line errors on bad files."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from stemkit import SR, tone

from audiolora.audio import audio_info, convert_channels, read_audio, resample, write_audio
from audiolora.errors import DataError


@pytest.mark.parametrize(
    ("name", "subtype", "atol"),
    [
        ("x.wav", "PCM_16", 1e-4),
        ("x.wav", "PCM_24", 1e-6),
        ("x.wav", "FLOAT", 0.0),
        ("x.flac", "PCM_16", 1e-4),
        ("x.ogg", "VORBIS", None),
        ("x.ogg", "FLOAT", None),  # FLOAT falls back to the container's best format
        pytest.param(
            "x.mp3",
            "MPEG_LAYER_III",
            None,
            marks=pytest.mark.skipif(
                "MP3" not in sf.available_formats(), reason="libsndfile built without MP3"
            ),
        ),
    ],
)
def test_write_read_round_trip(tmp_path, name, subtype, atol):
    audio = tone(0.5, 440.0)
    path = write_audio(tmp_path / name, audio, SR, subtype=subtype)
    back, sr = read_audio(path)
    assert sr == SR and back.dtype == np.float32 and back.shape[0] == 2
    if atol is None:  # lossy: same length, correlated content
        assert abs(back.shape[1] - audio.shape[1]) < SR // 10
        n = min(back.shape[1], audio.shape[1])
        assert np.corrcoef(back[0, :n], audio[0, :n])[0, 1] > 0.9
    else:
        np.testing.assert_allclose(back, audio, atol=atol)
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temp files left behind


def test_read_resamples_and_converts_channels(tmp_path):
    write_audio(tmp_path / "x.wav", tone(1.0, 440.0, channels=1), SR)
    audio, sr = read_audio(tmp_path / "x.wav", samplerate=44100, channels=2)
    assert sr == 44100 and audio.shape == (2, 44100)
    # the tone survives resampling: its spectrum peaks at 440 Hz
    spectrum = np.abs(np.fft.rfft(audio[0]))
    assert abs(np.argmax(spectrum) * 44100 / audio.shape[1] - 440.0) < 2.0


def test_resample_and_convert_channels_shapes():
    x = tone(0.25, 100.0, channels=2)
    assert resample(x, SR, 8000).shape == (2, 2000)
    np.testing.assert_array_equal(resample(x, SR, SR), x)
    mono = convert_channels(x * np.array([[1.0], [0.0]], dtype=np.float32), 1)
    np.testing.assert_allclose(mono[0], x[0] / 2, atol=1e-7)
    assert convert_channels(mono, 2).shape == (2, x.shape[1])
    assert convert_channels(mono, 3).shape == (3, x.shape[1])
    with pytest.raises(DataError, match="cannot convert 2-channel audio to 3"):
        convert_channels(x, 3)


def test_audio_info(tmp_path):
    write_audio(tmp_path / "x.flac", tone(0.5, 440.0), SR, subtype="PCM_24")
    info = audio_info(tmp_path / "x.flac")
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (SR, 2, SR // 2, "PCM_24")
    assert info.duration == pytest.approx(0.5)


def test_bad_files_are_one_line_data_errors(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")
    header_only = tmp_path / "header.wav"
    sf.write(header_only, np.zeros((0, 2), np.float32), SR, subtype="FLOAT")
    cases = [
        (tmp_path / "missing.wav", "missing.wav: no such audio file"),
        (empty, "empty.wav: empty file"),
        (corrupt, "corrupt.wav: unreadable audio"),
        (header_only, "header.wav: no samples"),
    ]
    for path, message in cases:
        with pytest.raises(DataError) as err:
            read_audio(path)
        assert message in str(err.value)
        assert "\n" not in err.value.one_line()


def test_write_audio_rejects_unknown_extension_and_subtype(tmp_path):
    with pytest.raises(DataError, match="unknown audio extension"):
        write_audio(tmp_path / "x.xyz", tone(0.1, 440.0), SR)
    with pytest.raises(DataError, match="FLAC files cannot hold VORBIS samples"):
        write_audio(tmp_path / "x.flac", tone(0.1, 440.0), SR, subtype="VORBIS")
    assert list(tmp_path.iterdir()) == []
