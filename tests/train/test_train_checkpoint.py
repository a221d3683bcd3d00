"""Checkpoints: contents, atomic writes under a simulated crash, pruning, RNG round trip."""

import random

import numpy as np
import pytest
import torch

from audiolora.errors import AudioloraError
from audiolora.train import Trainer, checkpoint
from audiolora.train.checkpoint import (
    atomic_dir,
    capture_rng,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    restore_rng,
    rng_of_rank,
)


def test_checkpoint_holds_every_trainable_tensor_and_state(make_run, tmp_path):
    config, family = make_run(
        "train.max_steps=3",
        "train.checkpoint_every=1",
        "train.keep_checkpoints=2",
        "train.batch_size=3",
    )
    run = tmp_path / "r"
    trainer = Trainer(config, family, run_dir=run)
    trainer.fit()
    assert [p.name for p in list_checkpoints(run / "checkpoints")] == ["step_2", "step_3"]
    ck = load_checkpoint(run / "checkpoints" / "step_3")
    trainable = {n for n, p in trainer.raw_model.named_parameters() if p.requires_grad}
    assert set(ck["tensors"]) == trainable and "tdecoder.1.conv_tr.bias" in trainable
    for name, p in trainer.raw_model.named_parameters():
        if p.requires_grad:
            assert torch.equal(ck["tensors"][name], p.detach())
    assert len(ck["optim"]["optimizer"]["state"]) == len(trainable)
    assert ck["optim"]["scheduler"]["last_epoch"] == 3
    assert set(ck["rng"]) >= {"python", "numpy", "torch"}
    # 8 items in batches of 3: micro-batches [3,3,2] per epoch; step 3 ends epoch 0
    state = ck["state"]
    assert (state["step"], state["epoch"], state["position"]) == (3, 1, 0)
    state2 = load_checkpoint(run / "checkpoints" / "step_2")["state"]
    assert (state2["epoch"], state2["position"]) == (0, 2)


def test_crash_during_rename_keeps_previous_checkpoint(make_run, tmp_path, monkeypatch):
    config, family = make_run("train.max_steps=4", "train.checkpoint_every=2", "train.batch_size=8")
    run = tmp_path / "r"
    real_replace = checkpoint.os.replace

    def crashing_replace(src, dst):
        if str(dst).endswith("step_4"):
            raise OSError("simulated crash mid-write")
        return real_replace(src, dst)

    monkeypatch.setattr(checkpoint.os, "replace", crashing_replace)
    with pytest.raises(OSError, match="simulated crash"):
        Trainer(config, family, run_dir=run).fit()
    monkeypatch.setattr(checkpoint.os, "replace", real_replace)
    ckdir = run / "checkpoints"
    assert [p.name for p in ckdir.iterdir()] == ["step_2"]  # no step_4, no temporary folder
    assert latest_checkpoint(ckdir) == ckdir / "step_2"
    intact = load_checkpoint(ckdir / "step_2")
    assert intact["state"]["step"] == 2
    # and the run continues from it
    _, family2 = make_run("train.max_steps=4", "train.checkpoint_every=2", "train.batch_size=8")
    metrics = Trainer(config, family2, run_dir=run, resume="latest").fit()
    assert metrics["step"] == 4 and family2.calls == 2


def test_atomic_dir_replaces_old_folder_only_on_success(tmp_path):
    target = tmp_path / "best"
    atomic_dir(target, lambda d: (d / "a.txt").write_text("old"))

    def failing(d):
        (d / "a.txt").write_text("new")
        raise RuntimeError("writer failed")

    with pytest.raises(RuntimeError):
        atomic_dir(target, failing)
    assert (target / "a.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best"]
    atomic_dir(target, lambda d: (d / "b.txt").write_text("new"))
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]


def test_rng_round_trip():
    state = capture_rng()
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    random.random(), np.random.rand(), torch.rand(1)
    restore_rng(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_each_process_restores_its_own_rng():
    main = capture_rng()
    torch.rand(3)
    other = capture_rng()
    saved = dict(main, per_rank=[main, other])
    assert torch.equal(rng_of_rank(saved, 1)["torch"], other["torch"])
    assert torch.equal(rng_of_rank(saved, 0)["torch"], main["torch"])
    plain = rng_of_rank(main, 1)  # a one-process checkpoint: everyone restores the main one
    assert plain.keys() == main.keys() and torch.equal(plain["torch"], main["torch"])


def test_damaged_or_wrong_checkpoint_is_one_line_error(tmp_path, make_run):
    with pytest.raises(AudioloraError, match="not a training checkpoint"):
        load_checkpoint(tmp_path)
    config, family = make_run("train.max_steps=1", "train.checkpoint_every=1", "train.batch_size=8")
    run = tmp_path / "r"
    Trainer(config, family, run_dir=run).fit()
    (run / "checkpoints" / "step_1" / "trainable.safetensors").write_bytes(b"garbage")
    with pytest.raises(AudioloraError, match="damaged checkpoint"):
        load_checkpoint(run / "checkpoints" / "step_1")


def test_resume_latest_without_checkpoints_is_an_error(make_run, tmp_path):
    config, family = make_run()
    with pytest.raises(AudioloraError, match="no checkpoint to resume from"):
        Trainer(config, family, run_dir=tmp_path / "empty", resume="latest").setup()
