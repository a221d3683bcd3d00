"""Memory and dataset-size presets: all validate, adapter-aware sections, combinations, auto."""

import pytest
import torch

from audiolora.config import auto_preset, available_presets, load_config


def test_every_preset_validates_for_lora_and_lokr():
    names = available_presets()
    assert {
        "cpu",
        "gpu-8gb",
        "gpu-12gb",
        "gpu-16gb",
        "gpu-24gb",
        "songs-1-3",
        "clips-small",
    } <= set(names)
    for name in names:
        for kind in ("lora", "lokr"):
            assert load_config(None, [f"preset={name}", f"adapter.kind={kind}"]).preset == name


def test_memory_presets_are_adapter_aware():
    lora = load_config(None, ["preset=gpu-24gb"])
    lokr = load_config(None, ["preset=gpu-24gb", "adapter.kind=lokr"])
    assert (lora.train.optimizer, lora.train.batch_size, lora.train.grad_accum) == ("prodigy", 3, 1)
    assert (lokr.train.optimizer, lokr.train.batch_size, lokr.train.grad_accum) == ("adamw", 2, 4)
    assert lora.adapter.dropout == 0.1 and lokr.adapter.dropout == 0.0
    assert lora.train.best.patience == 80 and lokr.train.best.patience == 50
    small = load_config(None, ["preset=gpu-8gb"])
    assert small.train.optimizer == "adafactor" and small.adapter.attention == "self"


def test_presets_combine_and_overrides_still_win():
    cfg = load_config(None, ["preset=gpu-16gb,songs-4-6", "train.epochs=10"])
    assert cfg.preset == "gpu-16gb,songs-4-6"
    assert cfg.train.batch_size == 2 and cfg.train.epochs == 10 and cfg.train.max_steps is None
    assert cfg.train.eval_every_epochs == 1 and cfg.train.checkpoint_every_epochs == 200


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU choice")
def test_auto_picks_cpu_without_gpu():
    assert auto_preset() == "cpu"
    assert load_config(None, ["preset=auto"]).preset == "cpu"
