"""The Basic Pitch clip embedding, the style classifier, and the metrics on real renders."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import butter, sosfilt

from audiolora.audio import resample
from audiolora.data.render import render_dataset
from audiolora.errors import DataError
from audiolora.metrics import generation as g
from audiolora.metrics.embeddings import DIM, basic_pitch_embeddings, default_embedder
from audiolora.metrics.style import StyleClassifier, clip_features, render_clips

SR = 22050


def tone(freq: float, seconds: float = 2.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * sum(np.sin(2 * np.pi * freq * k * t) / k for k in (1, 2, 3))).astype(np.float32)


def test_basic_pitch_embedding_hears_the_pitch():
    emb = basic_pitch_embeddings([tone(440.0), tone(440.0)], SR)
    assert emb.shape == (2, DIM) and np.array_equal(emb[0], emb[1])
    frames = default_embedder().frames(tone(440.0), SR)
    assert frames.shape == (int(2.0 * SR / 256), DIM // 2)
    assert int(frames[:, :88].mean(axis=0).argmax()) == 69 - 21  # A4 in the note posteriorgram
    assert not np.array_equal(emb[0], basic_pitch_embeddings([tone(220.0)], SR)[0])


def test_frechet_on_embeddings_orders_pitch_changes():
    freqs = [196.0, 220.0, 247.0, 262.0]
    ref = basic_pitch_embeddings([tone(f) for f in freqs], SR)
    detuned = basic_pitch_embeddings([tone(f * 1.005) for f in freqs], SR)
    octave = basic_pitch_embeddings([tone(f * 2) for f in freqs], SR)
    assert g.frechet_distance(ref, ref) == pytest.approx(0.0, abs=1e-6)
    assert g.frechet_distance(ref, detuned) < g.frechet_distance(ref, octave) / 5


def test_style_classifier_fit_predict_save_load(tmp_path):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, (20, 6)), rng.normal(1.5, 1, (20, 6))])
    y = ["western"] * 20 + ["traditional"] * 20
    clf = StyleClassifier(["western", "traditional"], embedding=False).fit(x, y)
    held = np.concatenate([rng.normal(0, 1, (50, 6)), rng.normal(1.5, 1, (50, 6))])
    assert clf.accuracy(held, ["western"] * 50 + ["traditional"] * 50) > 0.9
    again = StyleClassifier.load(clf.save(tmp_path / "style"))
    assert again.labels == clf.labels and not again.embedding
    np.testing.assert_array_equal(again.predict_proba(held), clf.predict_proba(held))
    with pytest.raises(DataError, match="unknown label 'jazz'"):
        clf.fit(x[:2], ["western", "jazz"])
    with pytest.raises(DataError, match="not a saved style classifier"):
        StyleClassifier.load(tmp_path / "missing")


@pytest.fixture(scope="module")
def renders(tmp_path_factory) -> dict[str, list[np.ndarray]]:
    """Six 4-second tracks of `traditional` and of `pop4`, with two seeds each, as 2-s clips."""
    root = tmp_path_factory.mktemp("style")
    clips = {}
    for recipe in ("traditional", "pop4"):
        for seed in (11, 12):
            out = root / f"{recipe}{seed}"
            render_dataset(recipe, out, 6, seed=seed, seconds=4.0, samplerate=SR, splits=(1, 0, 0))
            clips[f"{recipe}{seed}"] = render_clips(out, seconds=2.0)[0]
            clips[f"root:{recipe}{seed}"] = out
    return clips


@pytest.mark.slow
def test_style_classifier_tells_traditional_from_pop4_on_held_out_renders(renders):
    train = renders["traditional11"] + renders["pop411"]
    labels = ["traditional"] * 12 + ["western"] * 12
    clf = StyleClassifier(["western", "traditional"]).fit(clip_features(train, SR), labels)
    held = renders["traditional12"] + renders["pop412"]  # other seeds: other pieces
    accuracy = clf.accuracy(clip_features(held, SR), labels)
    assert accuracy >= 0.75, accuracy  # chance is 0.5
    assert np.mean(clf.predict_clips(renders["traditional12"], SR) == "traditional") >= 0.75


@pytest.mark.slow
def test_style_classifier_through_a_codec_still_tells_the_styles_apart(renders):
    """Fitted on renders passed through gen-mini's kind of codec (MelCodec round trip), it judges
    style in the generated clips' domain and still tells the held-out seeds apart."""
    from audiolora.families.generation.codecs import MelCodec, round_trip
    from audiolora.metrics.style import train_style_classifier

    through = round_trip(MelCodec(n_mels=80))
    sets = {"western": [renders["root:pop411"]], "traditional": [renders["root:traditional11"]]}
    clf = train_style_classifier(sets, seconds=2.0, embedding=False, transform=through)
    held = renders["traditional12"] + renders["pop412"]
    labels = ["traditional"] * 12 + ["western"] * 12
    coded = [through(c, SR) for c in held]
    assert coded[0].shape == held[0].shape and not np.allclose(coded[0], held[0], atol=1e-3)
    assert clf.accuracy(clip_features(coded, SR, embedding=False), labels) >= 0.75


@pytest.mark.slow
def test_shifted_sets_are_farther_than_a_reseeded_render(renders):
    ref, reseeded = renders["traditional12"], renders["traditional11"]
    sos = butter(2, 2000, "high", fs=SR, output="sos")
    timbre = [sosfilt(sos, c).astype(np.float32) for c in ref]  # the low half of the spectrum gone
    pitch = [resample(c, int(SR * 2 ** (7 / 12)), SR) for c in ref]  # up a fifth (and faster)
    other = renders["pop412"]  # another recipe
    emb = basic_pitch_embeddings
    base = {
        "afd": g.audio_feature_distance(ref, reseeded, SR),
        "log_mel": g.set_log_mel_distance(ref, reseeded, SR),
        "frechet": g.frechet_distance(emb(ref, SR), emb(reseeded, SR)),
    }
    for name, shifted in (("timbre", timbre), ("pitch", pitch), ("pop4", other)):
        assert g.audio_feature_distance(ref, shifted, SR) > base["afd"], name
        assert g.set_log_mel_distance(ref, shifted, SR) > base["log_mel"], name
        if name != "pitch":  # the pooled embedding is nearly pitch-invariant (see report)
            assert g.frechet_distance(emb(ref, SR), emb(shifted, SR)) > base["frechet"], name
