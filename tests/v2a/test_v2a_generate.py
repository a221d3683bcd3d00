"""`audiolora v2a generate`: windows, features like the cache's, the muxed MP4, adapters, bad input."""

import av
import numpy as np
import pytest
import soundfile as sf
import torch
from v2a_tiny import SPEC

from audiolora.audio import write_audio
from audiolora.config import load_config
from audiolora.data.render.video import write_video
from audiolora.families.base import get_family
from audiolora.families.v2a.features import CacheSettings, Encoders, load_clip_features
from audiolora.families.v2a.generate import (
    caption_features,
    join,
    window_features,
    windows,
)
from audiolora.families.v2a.tiny import save_tiny_clip_text

SR = SPEC.samplerate


def encoder_args(encoders):
    return [f"--{k.replace('_', '-')}={v}" for k, v in encoders.items()]


def generate(run_cli, video, out, base_dir, encoders, *more):
    args = ["--quiet", "v2a", "generate", str(video), "--out", str(out), "--steps", "2"]
    return run_cli(*args, "--model", str(base_dir), *encoder_args(encoders), *more)


def streams(path):
    """(video packets' bytes, decoded video frame count, decoded audio samples, audio rate)."""
    with av.open(str(path)) as box:
        packets = [bytes(p) for p in box.demux(box.streams.video[0]) if p.size]
    with av.open(str(path)) as box:
        frames = sum(1 for _ in box.decode(box.streams.video[0]))
    with av.open(str(path)) as box:
        stream = box.streams.audio[0] if box.streams.audio else None
        samples = sum(f.samples for f in box.decode(stream)) if stream else 0
        rate = stream.sample_rate if stream else 0
    return packets, frames, samples, rate


@pytest.fixture(scope="module")
def adapter(cache, base_dir, tmp_path_factory):
    """A v2a adapter saved by the family (it records the cache's encoders), with non-zero B."""
    folder, _ = cache
    sets = ["model.family=v2a", f"model.name={base_dir}", f"v2a.cache_dir={folder}"]
    family = get_family(load_config(None, [*sets, "adapter.rank=4", "adapter.alpha=8"]))
    torch.manual_seed(0)
    model = family.build_model()
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.2)
    path = tmp_path_factory.mktemp("adapter") / "a"
    family.save_adapter(model, path)
    return path


def test_windows_cover_the_video_and_join_with_a_crossfade():
    assert windows(100, 100, 10) == [0] and windows(60, 60, 10) == [0]
    starts = windows(250, 100, 10)
    assert starts == [0, 90, 150]  # the last window ends with the video
    assert all(b - a <= 90 for a, b in zip(starts, starts[1:], strict=False))
    parts = [np.full(100, k + 1.0, dtype=np.float32) for k in range(3)]
    out = join(parts, starts, 250, 10)
    assert out.shape == (250,)
    # each overlap keeps the earlier window, then fades over its last 10 samples
    assert np.all(out[:90] == 1) and np.all(out[100:180] == 2) and np.all(out[190:] == 3)
    fade = out[90:100]
    # equal-power weights (cos^2 + sin^2 = 1): the windows' noise is independent
    w = (np.arange(10) + 0.5) / 10 * np.pi / 2
    np.testing.assert_allclose(fade, np.cos(w) + 2 * np.sin(w), rtol=1e-6)
    np.testing.assert_allclose(out[180:190], 2 * np.cos(w) + 3 * np.sin(w), rtol=1e-6)


def test_window_features_are_the_cached_ones(cache, encoders, videos):
    folder, manifest = cache
    enc = Encoders(CacheSettings(**encoders))
    entry = manifest["clips"][1]
    assert entry["start"] == 1.0
    cached = load_clip_features(folder, entry["id"])
    video = videos / entry["video"]
    got = window_features(enc, video, entry["start"], entry["seconds"])
    got |= caption_features(enc, "percussion: thump, snare and bell with flashing squares")
    for k in ("clip", "sync", "text", "text_mask"):
        torch.testing.assert_close(got[k][0], cached[k].to(got[k].dtype), rtol=1e-5, atol=1e-5)


def test_generate_muxes_a_soundtrack_of_the_video_length(
    run_cli, videos, encoders, base_dir, tmp_path
):
    video = videos / "sync_000.mp4"  # 3 s, longer than a 2 s window
    out = tmp_path / "out" / "a.mp4"
    code, stdout, stderr = generate(run_cli, video, out, base_dir, encoders)
    assert code == 0, stderr
    src_packets, src_frames, _, _ = streams(video)
    packets, frames, samples, rate = streams(out)
    assert frames == src_frames == int(SPEC.seconds * SPEC.fps)
    assert packets == src_packets  # remuxed, not re-encoded
    assert rate == SR and abs(samples - SPEC.seconds * SR) <= 1024  # one AAC frame
    wav, sr = sf.read(out.with_suffix(".wav"), dtype="float32")
    assert sr == SR and len(wav) == int(SPEC.seconds * SR)
    assert np.isfinite(wav).all() and np.abs(wav).max() > 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["a.mp4", "a.wav"]  # no temp files
    # the same seed gives the same soundtrack
    again = tmp_path / "again.mp4"
    assert generate(run_cli, video, again, base_dir, encoders)[0] == 0
    np.testing.assert_array_equal(sf.read(again.with_suffix(".wav"), dtype="float32")[0], wav)


def test_adapter_changes_the_soundtrack(run_cli, videos, encoders, base_dir, adapter, tmp_path):
    video = videos / "sync_001.mp4"
    sound = {}
    for name, extra in (("base", []), ("adapted", ["--adapter", str(adapter)])):
        code, _, stderr = generate(
            run_cli, video, tmp_path / f"{name}.mp4", base_dir, encoders, *extra
        )
        assert code == 0, stderr
        sound[name] = sf.read(tmp_path / f"{name}.wav", dtype="float32")[0]
    # scale 0 is the base exactly; the encoders come from the adapter's record
    code, _, stderr = run_cli(
        "--quiet", "v2a", "generate", str(video), "--out", str(tmp_path / "zero.mp4"),
        "--steps", "2", "--adapter", f"{adapter}:0",
    )  # fmt: skip
    assert code == 0, stderr
    sound["zero"] = sf.read(tmp_path / "zero.wav", dtype="float32")[0]
    np.testing.assert_array_equal(sound["zero"], sound["base"])
    assert np.abs(sound["adapted"] - sound["base"]).mean() > 1e-3 * np.abs(sound["base"]).mean()


def test_a_video_codec_mp4_cannot_hold_is_re_encoded(run_cli, encoders, base_dir, tmp_path):
    frames = np.random.default_rng(0).integers(0, 255, (24, 32, 32, 3), dtype=np.uint8)
    video = write_video(tmp_path / "silent.webm", frames, None, 16, SR)  # vp8, no audio, 1.5 s
    out = tmp_path / "silent.mp4"
    code, _, stderr = generate(run_cli, video, out, base_dir, encoders)
    assert code == 0, stderr
    _, n, samples, _ = streams(out)
    assert n == 24 and abs(samples - 1.5 * SR) <= 1024


def test_bad_inputs_are_one_line(run_cli, encoders, base_dir, adapter, tmp_path, capsys):
    garbage = tmp_path / "broken.mp4"
    garbage.write_bytes(b"\x00not a video" * 100)
    sound = write_audio(tmp_path / "sound.wav", np.zeros((1, SR), np.float32), SR)
    other = {**encoders, "text_model": str(save_tiny_clip_text(tmp_path / "text", seed=1))}
    video = write_video(tmp_path / "ok.mkv", np.zeros((8, 32, 32, 3), np.uint8), None, 16, SR)
    cases = [
        (garbage, encoders, [], "not a readable video"),
        (tmp_path / "missing.mp4", encoders, [], "no such video file"),
        (sound, encoders, [], "no video stream"),
        (video, other, ["--adapter", str(adapter)], "trained with text_model"),
        (video, encoders, ["--adapter", str(adapter), "v2a.clip_fps=4"], "other settings"),
        (video, encoders, ["--adapter", str(tmp_path)], "no audiolora.json"),
    ]
    capsys.readouterr()  # the builders' progress bars
    for path, enc, extra, reason in cases:
        code, _, stderr = generate(run_cli, path, tmp_path / "o.mp4", base_dir, enc, *extra)
        assert code == 1, (path, stderr)
        assert reason in stderr and len(stderr.strip().splitlines()) == 1, stderr
    for out in (tmp_path / "o.avi", video):
        code, _, stderr = generate(run_cli, video, out, base_dir, encoders)
        assert code == 2 and len(stderr.strip().splitlines()) == 1, stderr
    # no --model and no adapter: the bundled v2a-mini, whose DiT does not fit these tiny encoders
    args = ["--quiet", "v2a", "generate", str(video), "--out", str(tmp_path / "o.mp4")]
    code, _, stderr = run_cli(*args, *encoder_args(encoders))
    # (transformers' own "Loading weights" bar of the CLIP encoders comes before the refusal)
    lines = [ln for ln in stderr.splitlines() if ln.strip() and "Loading weights" not in ln]
    assert code == 1 and len(lines) == 1, stderr
    assert "v2a-mini" in lines[0] and "latent_dim" in lines[0], stderr
    assert not (tmp_path / "o.mp4").exists() and not (tmp_path / "o.wav").exists()
