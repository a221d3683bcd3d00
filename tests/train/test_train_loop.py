"""The loop on a tiny real HTDemucs with PEFT LoRA: accumulation, NaN guard, Ctrl-C, early stop,
param groups and the run folder."""

import json
import signal

import pytest
import torch
from safetensors.torch import load_file

from audiolora.errors import AudioloraError
from audiolora.train import Trainer


def capture_grads(trainer):
    """Record every trainable gradient right before each optimizer step."""
    seen = []

    def hook(optimizer, args, kwargs):
        seen.append([p.grad.detach().clone() for g in optimizer.param_groups for p in g["params"]])

    trainer.optimizer.optimizer.register_step_pre_hook(hook)
    return seen


def test_accumulation_equals_big_batch_and_partial_accumulation_is_applied(make_run, tmp_path):
    # 6 items: batch 4 gives steps of [4] and [2]; batch 1 x accum 4 gives [1,1,1,1] and a
    # partial [1,1] at epoch end, which must be applied and weighted as the true mean.
    runs = {}
    for name, bs, accum in (("big", 4, 1), ("accum", 1, 4)):
        config, family = make_run(
            f"train.batch_size={bs}",
            f"train.grad_accum={accum}",
            "train.epochs=1",
            "train.max_steps=null",
            train_size=6,
        )
        trainer = Trainer(config, family, run_dir=tmp_path / name).setup()
        grads = capture_grads(trainer)
        metrics = trainer.fit()
        runs[name] = (grads, metrics["history"])
    (g_big, h_big), (g_acc, h_acc) = runs["big"], runs["accum"]
    assert len(g_big) == len(g_acc) == 2  # the partial accumulation made a step
    for step_big, step_acc in zip(g_big, g_acc, strict=True):
        for a, b in zip(step_big, step_acc, strict=True):
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-8)
    assert [h["loss"] for h in h_acc] == pytest.approx([h["loss"] for h in h_big], rel=1e-5)
    assert [h["grad_norm"] for h in h_acc] == pytest.approx(
        [h["grad_norm"] for h in h_big], rel=1e-4
    )


def test_full_lr_gets_its_own_parameter_group(make_run, tmp_path):
    config, family = make_run("train.full_lr=5e-2", "train.scheduler=constant")
    trainer = Trainer(config, family, run_dir=tmp_path / "r").setup()
    groups = {g["name"]: g for g in trainer.optimizer.param_groups}
    assert groups["adapter"]["lr"] == pytest.approx(1e-3)
    assert groups["full"]["lr"] == pytest.approx(5e-2)
    full_names = [
        n for n, p in trainer.raw_model.named_parameters() if p is groups["full"]["params"][0]
    ]
    assert full_names == ["tdecoder.1.conv_tr.bias"]


def test_nan_losses_skip_steps_and_stop_after_patience(make_run, tmp_path):
    config, family = make_run(
        "train.max_steps=10",
        "train.checkpoint_every=1",
        "train.nan_patience=3",
        "train.batch_size=8",
    )
    family.nan_calls = {3, 4, 5, 6}
    run = tmp_path / "r"
    with pytest.raises(AudioloraError, match=r"NaN/inf for 3 steps in a row.*step_2"):
        Trainer(config, family, run_dir=run).fit()
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_1", "step_2"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "nan" and metrics["nan_skipped"] == 3 and metrics["step"] == 2
    weights = load_file(run / "checkpoints" / "step_2" / "trainable.safetensors")
    assert all(torch.isfinite(t).all() for t in weights.values())


def test_single_nan_is_skipped_and_counted(make_run, tmp_path):
    config, family = make_run("train.max_steps=3", "train.batch_size=8")
    family.nan_calls = {2}
    trainer = Trainer(config, family, run_dir=tmp_path / "r")
    metrics = trainer.fit()
    assert metrics["status"] == "completed" and metrics["step"] == 3
    assert metrics["nan_skipped"] == 1 and family.calls == 4
    assert all(torch.isfinite(p).all() for p in trainer.raw_model.parameters())


def test_ctrl_c_saves_a_checkpoint_and_resume_finishes(make_run, tmp_path):
    config, family = make_run("train.max_steps=4", "train.batch_size=8")
    family.sigint_at_call = 2
    run = tmp_path / "r"
    previous = signal.getsignal(signal.SIGINT)
    metrics = Trainer(config, family, run_dir=run).fit()
    assert signal.getsignal(signal.SIGINT) is previous  # handler restored
    assert metrics["status"] == "interrupted" and metrics["step"] == 2
    assert (run / "checkpoints" / "step_2" / "trainer_state.json").is_file()
    assert not (run / "final").exists()
    _, family2 = make_run("train.max_steps=4", "train.batch_size=8")
    metrics = Trainer(config, family2, run_dir=run, resume="latest").fit()
    assert metrics["status"] == "completed" and metrics["step"] == 4
    assert [h["step"] for h in metrics["history"]] == [1, 2, 3, 4]
    assert family2.calls == 2


def test_fresh_run_refuses_a_folder_with_checkpoints(make_run, tmp_path):
    config, family = make_run("train.max_steps=1", "train.checkpoint_every=1", "train.batch_size=8")
    Trainer(config, family, run_dir=tmp_path / "r").fit()
    with pytest.raises(AudioloraError, match="--resume"):
        Trainer(config, family, run_dir=tmp_path / "r").fit()


def test_early_stop_and_final_is_best(make_run, tmp_path):
    # min_delta so large that only the first active evaluation can be a best.
    config, family = make_run(
        "train.max_steps=20",
        "train.batch_size=8",
        "train.eval_every=1",
        "train.best.min_delta=10",
        "train.best.best_after=2",
        "train.best.patience=2",
    )
    run = tmp_path / "r"
    metrics = Trainer(config, family, run_dir=run).fit()
    assert metrics["step"] == 4  # evals at 1 (inactive), 2 (best), 3, 4 (patience 2 reached)
    assert metrics["stop_reason"].startswith("early stop")
    assert metrics["best"]["step"] == 2 and metrics["final"] == "best (step 2)"
    assert [e["best"] for e in metrics["evals"]] == [False, True, False, False]
    best = load_file(run / "best" / "adapter_model.safetensors")
    final = load_file(run / "final" / "adapter_model.safetensors")
    last = load_file(run / "checkpoints" / "step_4" / "trainable.safetensors")
    assert all(torch.equal(best[k], final[k]) for k in best)
    assert any(not torch.equal(best[k], last[k]) for k in best)


def test_final_last_saves_the_last_weights(make_run, tmp_path):
    config, family = make_run(
        "train.max_steps=2", "train.batch_size=8", "train.eval_every=1", "train.final=last"
    )
    run = tmp_path / "r"
    Trainer(config, family, run_dir=run).fit()
    final = load_file(run / "final" / "adapter_model.safetensors")
    last = load_file(run / "checkpoints" / "step_2" / "trainable.safetensors")
    assert final.keys() == last.keys() and all(torch.equal(final[k], last[k]) for k in final)


def test_unknown_best_metric_is_a_config_error(make_run, tmp_path):
    config, family = make_run(
        "train.max_steps=1", "train.batch_size=8", "train.eval_every=1", "train.best.metric=sdr"
    )
    with pytest.raises(AudioloraError, match=r"train.best.metric=sdr.*loss, mse"):
        Trainer(config, family, run_dir=tmp_path / "r").fit()


def test_best_after_epochs_counts_in_steps(make_run, tmp_path):
    config, family = make_run("train.batch_size=2", "train.best.best_after_epochs=3")
    trainer = Trainer(config, family, run_dir=tmp_path / "r").setup()
    assert trainer.steps_per_epoch == 4 and trainer.tracker.cfg.best_after == 12
