"""Transcribe tab: upload audio (or a stem) -> piano roll, MIDI download, FluidSynth preview."""

from __future__ import annotations

import gradio as gr

from .. import inference
from .common import Context, one_line_errors, player


def build(ctx: Context) -> None:
    with gr.Tab("Transcribe", id="transcribe"):
        with gr.Row():
            upload = gr.Audio(
                label="Audio or stem", type="filepath", sources=["upload"], elem_id="tx-input"
            )
            with gr.Column():
                base = gr.Textbox("basic-pitch", label="Base model", elem_id="tx-base")
                adapter = gr.Textbox(label="Adapter folder", elem_id="tx-adapter")
                onset = gr.Number(
                    label="Onset threshold (0 or empty: adapter's tuned, else 0.5)",
                    elem_id="tx-onset",
                )
                frame = gr.Number(
                    label="Frame threshold (0 or empty: adapter's tuned, else 0.3)",
                    elem_id="tx-frame",
                )
                render = gr.Checkbox(value=True, label="Render a preview with FluidSynth")
                run_btn = gr.Button("Transcribe", variant="primary", elem_id="tx-run")
        status = gr.Markdown(elem_id="tx-status")
        roll = gr.Image(label="Piano roll", type="filepath", interactive=False, elem_id="tx-roll")
        with gr.Row():
            midi = gr.File(label="MIDI", interactive=False, elem_id="tx-midi")
            preview = gr.Audio(label="Preview", interactive=False, elem_id="tx-preview")

        @one_line_errors
        def on_run(path, base_name, adapter_dir, onset_t, frame_t, do_render):
            result = inference.transcribe_upload(
                path,
                ctx.out_dir("transcribe"),
                base_name,
                adapter_dir or None,
                # the browser sends an empty Number as 0, and a 0 threshold makes every frame a note
                onset_t or None,
                frame_t or None,
                render=do_render,
            )
            return (
                f"{result.notes} notes",
                str(result.piano_roll),
                str(result.midi),
                player(result.preview),
            )

        run_btn.click(
            on_run, [upload, base, adapter, onset, frame, render], [status, roll, midi, preview]
        )
