"""Targets, losses and a short adapter training run on tiny rendered stems."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audiolora.config import load_config
from audiolora.families.base import get_family
from audiolora.families.transcription.losses import balanced_bce, transcription_losses
from audiolora.families.transcription.targets import FPS, note_targets


def test_targets_from_notes():
    t = note_targets([(0.5, 1.0, 40), (1.9, 3.0, 21), (0.0, 0.2, 120)], start=0.0)
    on, off = round(0.5 * FPS), round(1.0 * FPS)
    assert t["note"][on:off, 40 - 21].all() and t["note"][:on, 40 - 21].sum() == 0
    assert t["note"][off:, 40 - 21].sum() == 0
    assert t["onset"][:, 19].nonzero()[0].tolist() == [on]
    assert t["contour"][on:off, 19 * 3 + 1].all() and t["contour"].sum() == t["note"].sum()
    assert t["note"][round(1.9 * FPS) :, 0].all()  # runs to the window's end
    assert t["onset"].sum() == 2  # out-of-range pitch 120 ignored
    shifted = note_targets([(0.5, 1.0, 40)], start=0.25)
    assert shifted["onset"][:, 19].nonzero()[0].tolist() == [round(0.25 * FPS)]


def test_onset_tolerance_spreads_a_triangle_around_each_onset():
    on = round(0.5 * FPS)
    t = note_targets([(0.5, 1.0, 40), (0.0, 0.4, 40)], start=0.0, onset_tolerance=2)
    column = t["onset"][:, 19]
    np.testing.assert_allclose(column[on - 3 : on + 4], [0, 1 / 3, 2 / 3, 1, 2 / 3, 1 / 3, 0])
    assert column[0] == 1 and column[1] == pytest.approx(2 / 3)  # clipped at the window's start
    np.testing.assert_array_equal(  # notes and contour are as without tolerance
        t["note"], note_targets([(0.5, 1.0, 40), (0.0, 0.4, 40)], start=0.0)["note"]
    )
    near = note_targets([(0.5, 1.0, 40), (1.0, 1.5, 40)], start=0.0, onset_tolerance=4)
    # overlapping triangles keep the larger value: each onset frame stays 1
    assert near["onset"][round(1.0 * FPS), 19] == 1 and near["onset"][on, 19] == 1


def test_onset_tolerance_reaches_the_training_windows(tiny_dataset):
    from audiolora.families.transcription.dataset import NoteWindows, load_track, track_dirs

    tracks = [load_track(d, "bass") for d in track_dirs(tiny_dataset, "train")]
    sharp = NoteWindows(tracks, crops_per_track=1, train=False)[0]["onset"]
    wide = NoteWindows(tracks, crops_per_track=1, train=False, onset_tolerance=2)[0]["onset"]
    assert set(torch.unique(sharp).tolist()) == {0.0, 1.0}
    assert (wide >= sharp).all() and wide.sum() > 2 * sharp.sum()


def test_balanced_bce_weights_positive_and_negative_cells():
    target = torch.zeros(2, 10)
    target[0, 3] = 1
    logits = torch.zeros(2, 10)
    logits[0, 3] = 4.0  # confident and right on the one positive
    plain = torch.nn.functional.binary_cross_entropy_with_logits(logits, target * 0.8 + 0.1)
    w = balanced_bce(logits, target, label_smoothing=0.2, positive_weight=0.95)
    cell = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, target * 0.8 + 0.1, reduction="none"
    )
    expected = 0.05 * cell[target == 0].mean() + 0.95 * cell[target == 1].mean()
    assert torch.isclose(w, expected) and not torch.isclose(w, plain)
    parts = transcription_losses(
        {"note": logits, "onset": logits, "contour": logits},
        {"note": target, "onset": target, "contour": target},
        weights={"note": 1.0, "onset": 2.0, "contour": 0.5},
    )
    assert torch.isclose(parts["loss"], parts["note"] + 2 * parts["onset"] + 0.5 * parts["contour"])
    assert torch.isclose(parts["onset"], plain)  # default: plain BCE on onsets
    balanced = transcription_losses(
        {"note": logits, "onset": logits, "contour": logits},
        {"note": target, "onset": target, "contour": target},
        onset_positive_weight=0.95,
    )
    assert torch.isclose(balanced["onset"], w)


@pytest.fixture
def family(tiny_dataset, tmp_path):
    config = load_config(
        None,
        [
            "model.family=transcription",
            "model.name=basic-pitch",
            "transcription.stem=bass",
            "transcription.crops_per_track=2",
            f"data.root={tiny_dataset}",
            f"run.output_dir={tmp_path}",
            "adapter.rank=4",
        ],
    )
    return get_family(config)


def test_short_training_lowers_loss_and_changes_only_adapter_tensors(family, tmp_path):
    torch.manual_seed(0)
    model = family.build_model()
    train, valid = family.datasets()
    assert len(train) == 4 and valid is not None and len(valid) == 4
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(".lora_" in n for n in trainable)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batch = family.collate([train[i] for i in range(len(train))])
    assert batch["audio"].shape == (4, 43844) and batch["onset"].sum() > 0
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    first = family.training_loss(model, batch).item()
    for _ in range(6):
        optimizer.zero_grad()
        family.training_loss(model, batch).backward()
        optimizer.step()
    last = family.training_loss(model, batch).item()
    assert last < first
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(".lora_" in k for k in changed)
    assert any("lora_B" in k for k in changed)
    metrics = family.evaluate(model, valid)
    assert {"loss", "loss_note", "loss_onset", "loss_contour"} <= metrics.keys()
    assert np.isfinite(metrics["loss"])

    # the adapter folder loads back onto a fresh base and reproduces the outputs
    from audiolora.families.transcription.family import load_adapted

    family.save_adapter(model, tmp_path / "adapter")
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()
    reloaded = load_adapted("basic-pitch", tmp_path / "adapter")
    model.eval()
    with torch.no_grad():
        a, b = model(batch["audio"][:1]), reloaded(batch["audio"][:1])
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-5, rtol=0)


def test_training_windows_are_deterministic_and_augmented(family):
    train, valid = family.datasets()
    a, b = train[1], train[1]
    assert torch.equal(a["audio"], b["audio"])
    train.set_epoch(1)
    assert not torch.equal(train[1]["audio"], a["audio"])
    assert torch.equal(valid[0]["audio"], valid[0]["audio"])
