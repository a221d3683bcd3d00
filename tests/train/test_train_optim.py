"""Optimizers on the tiny model's real parameters: each takes a step; Prodigy forces a constant
schedule; AdamW 8-bit fails in one line without bitsandbytes or a GPU."""

import sys

import pytest
import torch
import torch.nn.functional as F

from audiolora.errors import ConfigError
from audiolora.train.optim import build_optimizer, effective_scheduler, param_groups


@pytest.fixture
def model_and_loss(make_run):
    config, family = make_run()
    model = family.build_model()
    train, _ = family.datasets()
    mix, stems = train[0]

    def loss():
        return F.l1_loss(model(mix[None]), stems[None])

    return config, family, model, loss


@pytest.mark.parametrize("name", ["adamw", "adam", "adafactor", "prodigy"])
def test_optimizer_updates_trainable_tensors_only(model_and_loss, name):
    config, family, model, loss = model_and_loss
    cfg = config.train.model_copy(update={"optimizer": name, "weight_decay": 0.01})
    groups = param_groups(model, cfg, family.full_parameter_names(model))
    opt = build_optimizer(groups, cfg, torch.device("cpu"))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for _ in range(2):
        opt.zero_grad()
        loss().backward()
        opt.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(before[n], p)}
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert changed and changed <= trainable
    assert "tdecoder.1.conv_tr.bias" in changed


def test_prodigy_forces_constant_schedule_and_unit_lr(model_and_loss):
    config, family, model, _ = model_and_loss
    cfg = config.train.model_copy(
        update={"optimizer": "prodigy", "scheduler": "cosine", "full_lr": 1e-2}
    )
    assert effective_scheduler(cfg) == "constant"
    groups = param_groups(model, cfg, family.full_parameter_names(model))
    assert [g["lr"] for g in groups] == pytest.approx([1.0, 10.0])
    assert effective_scheduler(config.train) == "cosine"


def test_adamw8bit_on_cpu_is_one_line(model_and_loss):
    config, family, model, _ = model_and_loss
    cfg = config.train.model_copy(update={"optimizer": "adamw8bit"})
    with pytest.raises(ConfigError, match="needs a CUDA GPU") as err:
        build_optimizer(param_groups(model, cfg), cfg, torch.device("cpu"))
    assert "\n" not in str(err.value)


def test_adamw8bit_without_bitsandbytes_says_what_to_install(model_and_loss, monkeypatch):
    config, family, model, _ = model_and_loss
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # makes the import fail
    cfg = config.train.model_copy(update={"optimizer": "adamw8bit"})
    with pytest.raises(ConfigError, match=r"pip install 'audiolora\[optim\]'"):
        build_optimizer(param_groups(model, cfg), cfg, torch.device("cuda"))


def test_no_trainable_parameters_is_a_config_error(make_run):
    config, _ = make_run()
    frozen = torch.nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(ConfigError, match="no trainable parameters"):
        param_groups(frozen, config.train)
