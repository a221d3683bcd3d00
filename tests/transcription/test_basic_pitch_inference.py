"""Windowing, unwrapping and note creation equal basic-pitch's own pipeline."""

from __future__ import annotations

import numpy as np

from audiolora.families.transcription.inference import (
    HOP_SAMPLES,
    load_mono,
    predict_posteriors,
    unwrap,
    window_audio,
)
from audiolora.families.transcription.model import load_basic_pitch
from audiolora.families.transcription.note_creation import decode_notes, posteriors_to_notes


def test_windows_and_unwrap_match_basic_pitch(basic_pitch_modules):
    inference, _ = basic_pitch_modules
    audio = np.random.default_rng(0).standard_normal(100_000).astype(np.float32)
    padded = np.concatenate([np.zeros(3840, np.float32), audio])
    theirs = np.stack([w[:, 0] for w, _ in inference.window_audio_file(padded, HOP_SAMPLES)])
    ours = window_audio(audio)
    np.testing.assert_array_equal(ours, theirs)
    fake = np.random.default_rng(1).random((len(ours), 172, 88)).astype(np.float32)
    np.testing.assert_array_equal(
        unwrap(fake, len(audio)), inference.unwrap_output(fake, len(audio), 30)
    )


def test_whole_file_posteriors_and_notes_match_basic_pitch(clip_wav, nmp_onnx, basic_pitch_modules):
    inference, note_creation = basic_pitch_modules
    path, _ = clip_wav
    ours = predict_posteriors(load_basic_pitch(), load_mono(path))
    theirs = inference.run_inference(path, inference.Model(nmp_onnx))
    for key in ("note", "onset", "contour"):
        assert ours[key].shape == theirs[key].shape
        np.testing.assert_allclose(ours[key], theirs[key], atol=1e-4, rtol=0)

    _, expected = note_creation.model_output_to_notes(
        theirs, onset_thresh=0.5, frame_thresh=0.3, min_note_len=11, include_pitch_bends=False
    )
    got = posteriors_to_notes(theirs)
    assert len(expected) > 10 and len(got) == len(expected)
    for a, b in zip(got, expected, strict=True):
        assert (a.start, a.end, a.pitch) == (float(b[0]), float(b[1]), int(b[2]))
        assert abs(a.amplitude - float(b[3])) < 1e-6


def test_note_decoding_options_match_basic_pitch(basic_pitch_modules):
    _, note_creation = basic_pitch_modules
    rng = np.random.default_rng(3)
    frames = (rng.random((400, 88)) ** 6).astype(np.float32)
    onsets = (rng.random((400, 88)) ** 8).astype(np.float32)
    cases = [
        dict(
            min_note_len=11, infer_onsets=False, min_freq=None, max_freq=None, melodia_trick=False
        ),
        dict(min_note_len=11, infer_onsets=True, min_freq=60.0, max_freq=800.0, melodia_trick=True),
        dict(min_note_len=5, infer_onsets=True, min_freq=None, max_freq=None, melodia_trick=True),
    ]
    for case in cases:
        expected = note_creation.output_to_notes_polyphonic(
            frames.copy(), onsets.copy(), onset_thresh=0.4, frame_thresh=0.3, **case
        )
        got = decode_notes(frames, onsets, onset_threshold=0.4, frame_threshold=0.3, **case)
        assert len(expected) > 0
        assert [(s, e, p) for s, e, p, _ in got] == [
            (int(s), int(e), int(p)) for s, e, p, _ in expected
        ]
        np.testing.assert_allclose([a for *_, a in got], [a for *_, a in expected], atol=1e-6)
