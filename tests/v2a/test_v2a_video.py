import json

import numpy as np
import pytest
from v2a_tiny import SPEC

from audiolora.data.render.video import VideoSpec, compose, render_frames, write_video
from audiolora.data.video import (
    clip_starts,
    read_clip_audio,
    read_clip_frames,
    read_clip_tsv,
    split_videos,
    write_clip_tsv,
)
from audiolora.errors import DataError
from audiolora.families.v2a.features import motion_energy


def test_clip_starts_overlap():
    assert clip_starts(5.0, 2.0, 0.5) == [0.0, 1.0, 2.0, 3.0]
    assert clip_starts(5.0, 2.0, 0.0) == [0.0, 2.0]
    assert clip_starts(1.5, 2.0, 0.5) == []


def test_split_skips_bad_videos_with_one_line_each(tmp_path, videos):
    folder = tmp_path / "in"
    folder.mkdir()
    for p in sorted(videos.glob("*.mp4"))[:2]:
        (folder / p.name).write_bytes(p.read_bytes())
    (folder / "corrupt.mov").write_bytes(b"not a video at all")
    spec = VideoSpec(seconds=2.0, fps=16, size=32)
    frames = render_frames(compose(0, 0, spec), spec)
    write_video(folder / "silent.mkv", frames, None, spec.fps, spec.samplerate)
    short = VideoSpec(seconds=1.0, fps=16, size=32)
    from audiolora.data.render.video import render_audio

    onsets = compose(1, 0, short)
    write_video(folder / "short.webm", render_frames(onsets, short), None, 16, 16000)
    write_video(
        folder / "short.mp4",
        render_frames(onsets, short),
        render_audio(onsets, short, 0),
        16,
        16000,
    )
    clips, skipped = split_videos(folder, 2.0, 0.5, holdout=0.5)
    reasons = {line.split(":")[0].rsplit("/", 1)[-1]: line for line in skipped}
    assert set(reasons) == {"corrupt.mov", "silent.mkv", "short.webm", "short.mp4"}
    assert "not a readable video" in reasons["corrupt.mov"]
    assert "no audio track" in reasons["silent.mkv"]
    assert "shorter than one clip" in reasons["short.mp4"]
    assert all("\n" not in line for line in skipped)
    # the two good 3 s videos go on: starts 0 and 1 each, the second held out
    assert [(c.video, c.start, c.split) for c in clips] == [
        ("sync_000.mp4", 0.0, "train"),
        ("sync_000.mp4", 1.0, "train"),
        ("sync_001.mp4", 0.0, "test"),
        ("sync_001.mp4", 1.0, "test"),
    ]
    tsv = write_clip_tsv(tmp_path / "clips.tsv", clips)
    assert read_clip_tsv(tsv) == clips


def test_clip_audio_resampled_and_aligned(videos):
    path = videos / "sync_000.mp4"
    audio = read_clip_audio(path, 1.0, 1.5, 8000)
    assert audio.shape == (1, 12000) and audio.dtype == np.float32
    # the first event inside the clip is where the clip's audio first gets loud
    events = json.loads(path.with_suffix(".onsets.json").read_text())["events"]
    first = min(t for t in events if t >= 1.0) - 1.0
    loud = np.argmax(np.abs(audio[0]) > 0.05) / 8000
    assert abs(loud - first) < 0.01


def test_visual_events_sit_on_the_onsets(videos):
    path = videos / "sync_001.mp4"
    truth = json.loads(path.with_suffix(".onsets.json").read_text())
    frames, times = read_clip_frames(path, 0.0, SPEC.seconds)
    assert len(frames) == SPEC.seconds * SPEC.fps
    energy = motion_energy(frames, 4)[:, -1]
    rising = {int(round(t * SPEC.fps)) for t in truth["events"]}
    quiet = [i for i in range(len(energy)) if all(abs(i - f) > 0 and i - f != 2 for f in rising)]
    # every onset frame moves more than any frame that is neither an onset nor a flash's end
    assert min(energy[f] for f in rising) > max(energy[i] for i in quiet)


def test_missing_folder_is_one_line():
    with pytest.raises(DataError, match="no such folder"):
        split_videos("/nonexistent/videos", 2.0)
