"""The Train tab's logic: overrides from the form, the CLI line, progress parsed from train.log."""

import pytest
import yaml

from audiolora.ui import training as tr

LOG = """\
2026-01-01 10:00:00 plan model: htdemucs-tiny
2026-01-01 10:00:00 plan steps: 10 (4 per epoch, ~2.5 epochs)
2026-01-01 10:00:02 step 1 epoch 0 loss 0.5 lr 1.000e-04 grad_norm 0.1
2026-01-01 10:00:04 step 2 epoch 0 loss 0.25 lr 1.000e-04 grad_norm 0.1
2026-01-01 10:00:04 eval step 2: loss 0.4, sdr 3.5, loss MA 0.4 new best
2026-01-01 10:00:06 step 3 epoch 0 loss 0.125 lr 1.000e-04 grad_norm 0.1
"""


def test_progress_from_train_log(tmp_path):
    (tmp_path / "train.log").write_text(LOG)
    p = tr.read_progress(tmp_path)
    assert (p.total, p.steps, p.losses) == (10, [1, 2, 3], [0.5, 0.25, 0.125])
    assert p.evals == [{"step": 2, "loss": 0.4, "sdr": 3.5}]
    assert p.eta_seconds() == pytest.approx(14.0)  # 2 s per step, 7 steps left
    assert p.status() == "step 3 / 10, loss 0.125, ETA 0:14"
    assert tr.read_progress(tmp_path / "nothing").status() == "waiting for the first step"


def test_overrides_only_for_changed_fields_and_the_cli_line(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"model": {"name": "htdemucs-tiny"}, "train": {"max_steps": 2}}))
    from audiolora.config import load_config

    form = tr.form_values(load_config(str(cfg), []))
    assert form["train.max_steps"] == 2
    form["train.max_steps"] = 500.0  # gr.Number gives floats
    form["adapter.rank"] = 4
    overrides = tr.overrides_for(str(cfg), form, "cpu", "train.lr=1e-3 'data.sources=[a, b]'")
    assert overrides == [
        "preset=cpu",
        "adapter.rank=4",
        "train.max_steps=500",
        "train.lr=1e-3",
        "data.sources=[a, b]",
    ]
    args = tr.train_args(str(cfg), overrides, "r1", resume=True)
    assert tr.cli_line(args) == (
        f"audiolora train {cfg} preset=cpu adapter.rank=4 train.max_steps=500 train.lr=1e-3 "
        "'data.sources=[a, b]' --run-name r1 --resume"
    )
    assert tr.run_dir_for(str(cfg), ["run.output_dir=/x/runs"], "r1").as_posix() == "/x/runs/r1"
