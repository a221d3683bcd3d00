"""Generate tab: prompt, lyrics, duration, seed, steps, guidance, adapters with scales -> audio and
its spectrogram. Built only when the generation family's `generate` is importable."""

from __future__ import annotations

import gradio as gr

from .. import inference
from .common import Context, one_line_errors, player

ADAPTER_ROWS = 3


def build(ctx: Context) -> bool:
    """Add the tab when generation is available; returns whether it was added."""
    generate = inference.generation_api()
    if generate is None:
        return False
    with gr.Tab("Generate", id="generate"):
        with gr.Row():
            with gr.Column():
                model = gr.Textbox(label="Base model", elem_id="gen-model")
                prompt = gr.Textbox(label="Prompt", lines=2, elem_id="gen-prompt")
                lyrics = gr.Textbox(label="Lyrics", lines=4)
                with gr.Row():
                    duration = gr.Slider(
                        1, 240, value=10, step=1, label="Duration (s)", elem_id="gen-duration"
                    )
                    seed = gr.Number(0, precision=0, label="Seed", elem_id="gen-seed")
                with gr.Row():
                    steps = gr.Number(
                        label="Steps (0 or empty: the checkpoint's)",
                        precision=0,
                        elem_id="gen-steps",
                    )
                    guidance = gr.Number(label="Guidance (0 or empty: the checkpoint's)")
                adapter_inputs = []
                for i in range(ADAPTER_ROWS):
                    with gr.Row():
                        adapter_inputs.append(
                            gr.Textbox(
                                label=f"Adapter {i + 1} folder", scale=3, elem_id=f"gen-adapter{i}"
                            )
                        )
                        adapter_inputs.append(
                            gr.Slider(
                                0, 2, value=1, step=0.05, label="scale", elem_id=f"gen-scale{i}"
                            )
                        )
                run_btn = gr.Button("Generate", variant="primary", elem_id="gen-run")
            with gr.Column():
                audio = gr.Audio(label="Output", interactive=False, elem_id="gen-audio")
                spec = gr.Image(
                    label="Spectrogram", type="filepath", interactive=False, elem_id="gen-spec"
                )
                status = gr.Markdown(elem_id="gen-status")

        @one_line_errors
        def on_run(
            model_name,
            text,
            lyric_text,
            seconds,
            seed_value,
            n_steps,
            cfg,
            *pairs,
            bar=gr.Progress(),
        ):
            adapters = inference.parse_adapters(zip(pairs[::2], pairs[1::2], strict=True))
            wav, png = inference.generate_to_files(
                ctx.out_dir("generate"),
                model_name,
                text,
                lyrics=lyric_text,
                duration=seconds,
                seed=int(seed_value or 0),
                steps=n_steps,
                guidance=cfg,
                adapters=adapters,
                generate=generate,
                progress=lambda step, total: bar((step, total), desc="sampling"),
            )
            return player(wav), str(png), f"wrote {wav}"

        run_btn.click(
            on_run,
            [model, prompt, lyrics, duration, seed, steps, guidance, *adapter_inputs],
            [audio, spec, status],
        )
    return True
