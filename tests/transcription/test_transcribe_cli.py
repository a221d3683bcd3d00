"""`audiolora transcribe` writes a MIDI file with the expected tracks and notes; bad input is one line."""

from __future__ import annotations

import pretty_midi
import pytest

from audiolora.metrics.notes import note_scores


def test_transcribe_writes_midi_with_the_notes(run_cli, clip_wav, tmp_path):
    path, notes = clip_wav
    out = tmp_path / "song.mid"
    code, stdout, _ = run_cli("transcribe", str(path), "--out", str(out))
    assert code == 0 and "wrote" in stdout
    midi = pretty_midi.PrettyMIDI(str(out))
    assert [i.name for i in midi.instruments] == ["notes"]
    est = [(n.start, n.end, n.pitch) for n in midi.instruments[0].notes]
    assert note_scores(notes, est)["onset_f1"] > 0.6  # piano, two voices: the base does well


@pytest.mark.slow
def test_transcribe_with_stems_writes_one_named_track_per_stem(run_cli, clip_wav, tmp_path):
    # htdemucs-tiny: a random-init HTDemucs (the real class); this checks the plumbing, not quality
    path, _ = clip_wav
    out = tmp_path / "stems.mid"
    code, _, err = run_cli(
        "transcribe", str(path), "--stems", "--separation-model", "htdemucs-tiny", "--out", str(out)
    )
    assert code == 0, err
    from audiolora.hub import load_model

    sources = list(load_model("htdemucs-tiny").sources)
    midi = pretty_midi.PrettyMIDI(str(out))
    assert [i.name for i in midi.instruments] == sources


def test_transcribe_errors_are_one_line(run_cli, clip_wav, tmp_path):
    path, _ = clip_wav
    code, _, err = run_cli("transcribe", str(tmp_path / "missing.wav"))
    assert code == 1 and "missing.wav" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli("transcribe", str(path), "--adapter", str(tmp_path / "nope"))
    assert code == 1 and "nope" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli("transcribe", str(path), "--adapters", "bass=x")
    assert code == 2 and "--stems" in err
    code, _, err = run_cli("transcribe", str(path), "--stems", "--adapters", "bass")
    assert code == 2 and "STEM=ADAPTER_DIR" in err


def test_thresholds_precedence(tmp_path):
    from audiolora.commands.transcription import _note_kwargs

    (tmp_path / "thresholds.json").write_text('{"onset_threshold": 0.2, "frame_threshold": 0.4}')
    assert _note_kwargs(None, None, 127.7)["onset_threshold"] == 0.5
    tuned = _note_kwargs(None, None, 127.7, tmp_path)
    assert (tuned["onset_threshold"], tuned["frame_threshold"]) == (0.2, 0.4)
    assert _note_kwargs(0.6, None, 127.7, tmp_path)["onset_threshold"] == 0.6
