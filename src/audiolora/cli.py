"""Command line: thin. Parses arguments, calls the layers below, prints. Errors are one line.

Built on click (not Typer: recent Typer vendors its own click, which makes one-line error handling
version-dependent).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from rich.table import Table

from . import __version__
from .console import console, err_console, settings
from .errors import AudioloraError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or status lines.")
@click.version_option(__version__, prog_name="audiolora")
def cli(debug: bool, quiet: bool) -> None:
    """Adapt pretrained audio and music models with low-rank adapters (LoRA, LoKr)."""
    settings.debug = debug or settings.debug
    settings.quiet = quiet


# --------------------------------------------------------------------------- inspect


def _split_csv(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


@cli.command()
@click.argument("model")
@click.option(
    "--targets", "-t", help="Comma-separated glob patterns to test, e.g. 'encoder.0.*,*.rewrite'."
)
@click.option("--exclude", help="Comma-separated globs to leave out.")
@click.option("--all", "all_modules", is_flag=True, help="Also list container modules.")
@click.option(
    "--rank", "-r", type=click.IntRange(min=1), help="Adapter rank: show the parameter report."
)
@click.option("--kind", type=click.Choice(["lora", "lokr"]), default="lora", show_default=True)
def inspect(
    model: str,
    targets: str | None,
    exclude: str | None,
    all_modules: bool,
    rank: int | None,
    kind: str,
) -> None:
    """List MODEL's modules (name, type, weight shape, parameters) and what target globs select.

    MODEL is a model name (e.g. htdemucs-tiny) or a local checkpoint path. With --rank (and
    --targets), attach that adapter and print the parameter report: adapted modules with type,
    rank, alpha, trainable parameters, and the totals against the base.
    """
    from .hub import load_model
    from .inspect_model import count_parameters, module_rows

    net = load_model(model)
    if rank is not None:
        from .adapters import AdapterSpec, attach_adapter, parameter_report
        from .errors import UsageError

        if not targets:
            raise UsageError("--rank needs --targets (the modules to adapt)")
        spec = AdapterSpec(
            kind=kind,
            rank=rank,
            alpha=2 * rank,
            targets=_split_csv(targets),
            exclude=_split_csv(exclude),
        )
        attach_adapter(net, spec)
        console.print(parameter_report(net).table(title=f"{model}: {kind} rank {rank}"))
        return
    rows = module_rows(net, leaves_only=not all_modules)
    selected: set[str] | None = None
    if targets:
        from .adapters.targets import match_modules

        selected = set(match_modules(net, _split_csv(targets), _split_csv(exclude)))
        rows = [r for r in rows if r.name in selected]
    table = Table(title=f"{model}: modules")
    table.add_column("name")
    table.add_column("type")
    table.add_column("weight shape")
    table.add_column("params", justify="right")
    for r in rows:
        table.add_row(r.name, r.type, r.shape, f"{r.params:,}")
    console.print(table)
    total, _ = count_parameters(net)
    shown = sum(r.params for r in rows)
    if selected is not None:
        console.print(
            f"targets {targets!r} select {len(selected)} modules, {shown:,} parameters "
            f"({100 * shown / max(total, 1):.2f} % of {total:,})"
        )
    else:
        console.print(f"{len(rows)} modules with parameters, {total:,} parameters in total")


# --------------------------------------------------------------------------- config


@cli.group()
def config() -> None:
    """Show and check run configs."""


@config.command("show")
@click.argument("args", nargs=-1)
def config_show(args: tuple[str, ...]) -> None:
    """Print the fully resolved config: [CONFIG] [key=value ...] (file + includes + preset + overrides)."""
    from .config import dump_config, load_config

    path = None
    overrides = list(args)
    if overrides and ("=" not in overrides[0] or Path(overrides[0]).exists()):
        path = overrides.pop(0)
    console.print(dump_config(load_config(path, overrides)), end="", markup=False)


# --------------------------------------------------------------------------- commands owned by areas

# Each area registers its commands from its own module so areas never edit this file at once.
from .commands import data as _data_cmds  # noqa: E402
from .commands import generation as _generation_cmds  # noqa: E402
from .commands import separation as _separation_cmds  # noqa: E402
from .commands import train as _train_cmds  # noqa: E402
from .commands import transcription as _transcription_cmds  # noqa: E402
from .commands import ui as _ui_cmds  # noqa: E402
from .commands import video as _video_cmds  # noqa: E402

for _module in (_train_cmds, _separation_cmds, _transcription_cmds, _data_cmds, _ui_cmds):
    for _command in _module.COMMANDS:
        cli.add_command(_command)
cli.add_command(_video_cmds.v2a)
for _command in _generation_cmds.COMMANDS:
    cli.add_command(_command)
for _command in _generation_cmds.DATA_COMMANDS:
    _data_cmds.data.add_command(_command)


# --------------------------------------------------------------------------- entry point


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point; returns the exit code (0 ok, 1 runtime error, 2 usage/config)."""
    args = list(sys.argv[1:] if argv is None else argv)
    # --quiet / --debug belong to this invocation: an in-process caller (the UI, tests) gets its
    # console back as it was, not silenced by the last command it ran.
    saved = (settings.quiet, settings.debug)
    try:
        return _run(args)
    finally:
        settings.quiet, settings.debug = saved


def _run(args: list[str]) -> int:
    settings.debug = "--debug" in args or os.environ.get("AUDIOLORA_DEBUG") == "1"
    try:
        result = cli.main(args=args, prog_name="audiolora", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        err_console.print("aborted")
        return 130
    except click.ClickException as exc:
        if settings.debug:
            raise
        hint = ""
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            hint = f" (try '{exc.ctx.command_path} --help')"
        err_console.print(
            f"usage error: {_one_line(exc.format_message())}{hint}", markup=False, soft_wrap=True
        )
        return 2
    except AudioloraError as exc:
        if settings.debug:
            raise
        err_console.print(exc.one_line(), markup=False, soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    except Exception as exc:  # an unexpected failure: still one line unless --debug
        if settings.debug:
            raise
        err_console.print(
            f"error: {type(exc).__name__}: {_one_line(exc)} (rerun with --debug for the traceback)",
            markup=False,
            soft_wrap=True,
        )
        return 1
