"""`audiolora ui`: the local web app (issue 17)."""

from __future__ import annotations

import click

from ..console import info, warn


@click.command()
@click.option("--port", type=click.IntRange(1, 65535), default=7861, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--work-dir",
    default="outputs/ui",
    show_default=True,
    help="Where stems, MIDI, generated audio and ratings from the UI are written.",
)
def ui(port: int, host: str, work_dir: str) -> None:
    """Start the web UI (Dataset, Train, Separate, Transcribe, Generate, Listen) in a browser."""
    from ..ui.app import LOCAL_HOST, build_app, launch

    if host != LOCAL_HOST:
        warn(
            f"binding {host}: anyone who can reach this machine on port {port} can read files, "
            "start training runs and write to disk; use --host 127.0.0.1 unless you mean it"
        )
    info(f"audiolora UI on http://{host}:{port} (Ctrl-C to stop)")
    launch(build_app(work_dir), host=host, port=port, block=True)


COMMANDS = [ui]
