"""The Gradio app: one Blocks with a tab per step of the workflow."""

from __future__ import annotations

import os
from pathlib import Path

# No usage reporting from a local tool (Gradio reads this at import).
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from .tabs import dataset, generate, listen, separate, train, transcribe  # noqa: E402
from .tabs.common import Context  # noqa: E402

LOCAL_HOST = "127.0.0.1"


def build_app(work_dir: str | os.PathLike = "outputs/ui") -> gr.Blocks:
    """The app; action outputs (stems, MIDI, generated audio, ratings) go under `work_dir`."""
    ctx = Context(Path(work_dir).resolve())
    ctx.work_dir.mkdir(parents=True, exist_ok=True)
    with gr.Blocks(title="audiolora") as app:
        gr.Markdown("## audiolora")
        with gr.Tabs():
            dataset.build(ctx)
            train.build(ctx)
            separate.build(ctx)
            transcribe.build(ctx)
            generate.build(ctx)
            listen.build(ctx)
    app.audiolora_work_dir = ctx.work_dir  # served to the browser for downloads
    return app


def launch(app: gr.Blocks, host: str = LOCAL_HOST, port: int = 7861, block: bool = True):
    """Serve `app` on host:port; `block=False` returns once the server is up (tests)."""
    return app.launch(
        server_name=host,
        server_port=port,
        allowed_paths=[str(app.audiolora_work_dir)],
        prevent_thread_lock=not block,
        inbrowser=False,
        share=False,
        quiet=not block,
        show_error=True,
    )
