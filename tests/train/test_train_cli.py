"""`audiolora train`: one-line errors and a short in-process run through the command."""

import json

import pytest

FAMILY = "tiny_family:TinySeparationFamily"


@pytest.fixture
def cfg_file(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIOLORA_FAMILY_CLASS", FAMILY)
    path = tmp_path / "run.yaml"
    path.write_text(
        f"run: {{output_dir: {tmp_path / 'out'}}}\n"
        "adapter: {rank: 2}\n"
        "train: {max_steps: 1, batch_size: 8, eval_every: null, checkpoint_every: null, loss_curve: false}\n"
    )
    return path


def test_train_runs_and_reports(run_cli, cfg_file, tmp_path):
    code, out, err = run_cli("train", str(cfg_file), "--run-name", "r1", "train.lr=2e-3")
    assert code == 0, err
    assert "plan" in out and "trainable" in out and "done: 1 steps" in out
    run = tmp_path / "out" / "r1"
    assert "lr: 0.002" in (run / "config.yaml").read_text()
    assert json.loads((run / "metrics.json").read_text())["status"] == "completed"


def test_bf16_on_cpu_trains(run_cli, cfg_file, tmp_path):
    code, _, err = run_cli(
        "--quiet", "train", str(cfg_file), "--run-name", "bf", "train.mixed_precision=bf16"
    )
    assert code == 0, err
    history = json.loads((tmp_path / "out" / "bf" / "metrics.json").read_text())["history"]
    assert len(history) == 1 and history[0]["loss"] > 0


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["train.optimizer=sgd"], 2, "train.optimizer"),
        (["train.mixed_precision=fp16"], 2, "fp16 needs a CUDA GPU"),
        (["train.optimizer=adamw8bit"], 2, "adamw8bit needs a CUDA GPU"),
        (["--resume"], 1, "--resume latest needs the run's name"),
        (["--resume", "/no/such/ckpt"], 1, "no such checkpoint or run folder"),
        (["--run-name", "x", "--resume"], 1, "no checkpoint to resume from"),
    ],
)
def test_errors_are_one_line(run_cli, cfg_file, args, code, message):
    import torch

    if "fp16" in message and torch.cuda.is_available():
        pytest.skip("fp16 is fine on a GPU")
    got, out, err = run_cli("train", str(cfg_file), *args)
    assert got == code
    assert message in err and len(err.strip().splitlines()) == 1


def test_bad_family_class_is_a_config_error(run_cli, cfg_file, monkeypatch):
    monkeypatch.setenv("AUDIOLORA_FAMILY_CLASS", "no_such_module:Family")
    code, _, err = run_cli("train", str(cfg_file))
    assert code == 2 and "AUDIOLORA_FAMILY_CLASS" in err
