"""Separate tab: upload audio, pick a base and an adapter -> stems as players, waveforms, downloads."""

from __future__ import annotations

import gradio as gr

from .. import inference
from .common import Context, one_line_errors, player

MAX_STEMS = 8


def build(ctx: Context) -> None:
    with gr.Tab("Separate", id="separate"):
        with gr.Row():
            upload = gr.Audio(
                label="Audio to separate", type="filepath", sources=["upload"], elem_id="sep-input"
            )
            with gr.Column():
                base = gr.Textbox(
                    "htdemucs-mini", label="Base model (name or file)", elem_id="sep-base"
                )
                adapter = gr.Textbox(label="Adapter folder (or run folder)", elem_id="sep-adapter")
                shifts = gr.Slider(0, 5, value=0, step=1, label="Random shifts")
                run_btn = gr.Button("Separate", variant="primary", elem_id="sep-run")
        status = gr.Markdown(elem_id="sep-status")
        players, waves = [], []
        for i in range(MAX_STEMS):
            with gr.Row(visible=True):
                players.append(
                    gr.Audio(
                        label=f"stem {i + 1}",
                        interactive=False,
                        visible=False,
                        elem_classes=["sep-stem"],
                    )
                )
                waves.append(
                    gr.Image(type="filepath", interactive=False, visible=False, show_label=False)
                )
        files = gr.File(
            label="Download stems", file_count="multiple", interactive=False, elem_id="sep-files"
        )

        @one_line_errors
        def on_run(path, base_name, adapter_dir, n_shifts):
            stems = inference.separate_upload(
                path, ctx.out_dir("separate"), base_name, adapter_dir or None, int(n_shifts)
            )
            audio_updates, wave_updates = [], []
            for i in range(MAX_STEMS):
                if i < len(stems):
                    s = stems[i]
                    audio_updates.append(
                        gr.update(value=player(s.audio), label=s.name, visible=True)
                    )
                    wave_updates.append(gr.update(value=str(s.waveform), visible=True))
                else:
                    audio_updates.append(gr.update(value=None, visible=False))
                    wave_updates.append(gr.update(value=None, visible=False))
            names = ", ".join(s.name for s in stems)
            return (
                f"{len(stems)} stems: {names}",
                *audio_updates,
                *wave_updates,
                [str(s.audio) for s in stems],
            )

        run_btn.click(on_run, [upload, base, adapter, shifts], [status, *players, *waves, files])
