"""`audiolora train`: the training engine (issue 4)."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import click

from ..console import info, warn
from ..errors import ConfigError

# Hidden hook for tests and experiments: "module:Class" of a Family to use instead of the one
# `model.family` names (model.family stays a closed choice for users).
FAMILY_OVERRIDE_ENV = "AUDIOLORA_FAMILY_CLASS"


def build_family(config):
    """The Family for `config`: the registered one, or the class $AUDIOLORA_FAMILY_CLASS names."""
    spec = os.environ.get(FAMILY_OVERRIDE_ENV)
    if spec:
        module, _, cls = spec.partition(":")
        try:
            family_cls = getattr(importlib.import_module(module), cls)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(
                f"{FAMILY_OVERRIDE_ENV}={spec}: cannot import ({exc}); write module:Class"
            ) from None
        return family_cls(config)
    from ..families.base import get_family

    return get_family(config)


@click.command()
@click.argument("config_path", metavar="CONFIG")
@click.argument("overrides", nargs=-1)
@click.option(
    "--resume",
    is_flag=False,
    flag_value="latest",
    default=None,
    metavar="[latest|PATH]",
    help="Continue a run: its latest checkpoint, or a checkpoint / run folder.",
)
@click.option("--run-name", help="Run folder name under run.output_dir (default: family-time).")
def train(config_path: str, overrides: tuple[str, ...], resume: str | None, run_name: str | None):
    """Train an adapter from a YAML CONFIG with dotted overrides (adapter.rank=8 train.lr=5e-5)."""
    from ..config import load_config
    from ..train import Trainer

    extra = list(overrides)
    if run_name:
        extra.append(f"run.name={run_name}")
    config = load_config(config_path, extra)
    trainer = Trainer(config, build_family(config), resume=resume)
    metrics = trainer.fit()
    run_dir = trainer.run_dir
    if metrics["status"] == "interrupted":
        warn(
            f"{metrics['stop_reason']}; checkpoint saved in {run_dir}/checkpoints. Continue with: "
            f"audiolora train {config_path} --run-name {run_dir.name} --resume"
        )
        return 130
    best = metrics["best"]
    if metrics.get("stop_reason"):
        info(metrics["stop_reason"])
    if best["value"] is not None:
        info(f"best {best['metric']} (moving average) {best['value']:.4g} at step {best['step']}")
    info(
        f"done: {metrics['step']} steps; adapter in {run_dir}/final ({metrics['final']}); see {run_dir}"
    )
    if config.model.family == "separation" and (run_dir / "final").is_dir():
        from ..families.separation.summary import print_summary

        listen = (metrics.get("report") or {}).get("listen")
        print_summary(run_dir, Path(listen) if listen else None)
    return 0


COMMANDS = [train]
