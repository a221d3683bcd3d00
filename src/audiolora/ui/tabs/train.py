"""Train tab: a config + preset + form -> the CLI line; start / stop / resume a training subprocess;
live loss plot, step/ETA, memory, latest samples and evaluations from the run folder."""

from __future__ import annotations

import time

import gradio as gr

from .. import media
from .. import training as tr
from .common import Context, one_line_errors, player

FORM = [  # (config key, widget factory)
    ("model.name", lambda: gr.Textbox(label="Base model", elem_id="tr-model")),
    ("data.root", lambda: gr.Textbox(label="Data root", elem_id="tr-data")),
    ("adapter.kind", lambda: gr.Radio(["lora", "lokr"], label="Adapter")),
    ("adapter.rank", lambda: gr.Number(label="Rank", precision=0)),
    ("train.lr", lambda: gr.Number(label="Learning rate")),
    ("train.max_steps", lambda: gr.Number(label="Max steps", precision=0, elem_id="tr-steps")),
    ("train.batch_size", lambda: gr.Number(label="Batch size", precision=0)),
]


def build(ctx: Context) -> None:
    session: dict[str, tr.TrainingProcess | None] = {"run": None}
    with gr.Tab("Train", id="train"):
        with gr.Row():
            config = gr.Dropdown(
                tr.config_files(),
                label="Config",
                allow_custom_value=True,
                scale=3,
                elem_id="tr-config",
            )
            preset = gr.Dropdown(["", "auto", *tr.preset_names()], value="", label="Preset")
            load_btn = gr.Button("Load", elem_id="tr-load")
        with gr.Row():
            fields = [make() for _key, make in FORM]
        with gr.Row():
            extra = gr.Textbox(label="More overrides (key=value ...)", scale=3, elem_id="tr-extra")
            run_name = gr.Textbox(label="Run name", elem_id="tr-run-name")
        cli = gr.Textbox(label="Equivalent command line", interactive=False, elem_id="tr-cli")
        with gr.Row():
            start_btn = gr.Button("Start", variant="primary", elem_id="tr-start")
            stop_btn = gr.Button("Stop (keeps a checkpoint)", variant="stop", elem_id="tr-stop")
            resume_btn = gr.Button("Resume", elem_id="tr-resume")
        status = gr.Markdown(elem_id="tr-status")
        with gr.Row():
            loss = gr.Image(label="Loss", type="filepath", interactive=False, elem_id="tr-loss")
            with gr.Column():
                memory = gr.Textbox(label="Memory", interactive=False, elem_id="tr-memory")
                log_tail = gr.Textbox(label="Last log line", interactive=False, elem_id="tr-log")
                evals = gr.Dataframe(label="Evaluations", interactive=False, elem_id="tr-evals")
        with gr.Row():
            samples = [
                gr.Audio(label=f"Sample {i + 1}", interactive=False, visible=False)
                for i in range(2)
            ]
        timer = gr.Timer(1.0)

        def form_dict(values) -> dict:
            return {key: v for (key, _), v in zip(FORM, values, strict=True)}

        @one_line_errors
        def on_load(config_path, _preset):
            from ...config import load_config

            values = tr.form_values(load_config(config_path, []))
            return [values[key] for key, _ in FORM]

        def plan(config_path, preset_name, extra_text, name, values, resume=False):
            overrides = tr.overrides_for(
                config_path, form_dict(values), preset_name or None, extra_text
            )
            name = (name or "").strip() or time.strftime("ui-%Y%m%d-%H%M%S")
            return tr.train_args(config_path, overrides, name, resume), overrides, name

        def on_change(config_path, preset_name, extra_text, name, *values):
            if not config_path:
                return ""
            try:
                return tr.cli_line(
                    plan(config_path, preset_name, extra_text, name or "NAME", values)[0]
                )
            except Exception as exc:  # an unfinished form: show why instead of a line
                return f"(incomplete: {' '.join(str(exc).split())})"

        @one_line_errors
        def start(resume, config_path, preset_name, extra_text, name, *values):
            from ...errors import UsageError

            if session["run"] is not None and session["run"].running:
                raise UsageError("a run is already going; stop it first")
            if not config_path:
                raise UsageError("pick a config first")
            args, overrides, name = plan(config_path, preset_name, extra_text, name, values, resume)
            run_dir = tr.run_dir_for(config_path, overrides, name)
            session["run"] = tr.TrainingProcess(args, run_dir).start()
            return tr.cli_line(args), name, f"started: {run_dir}"

        def stop():
            run = session["run"]
            if run is None or not run.running:
                return "no run is going"
            code = run.stop()
            ckpts = tr.checkpoints(run.run_dir)
            last = ckpts[-1] if ckpts else "none"
            return f"stopped (exit {code}); last checkpoint: {last}"

        def refresh():
            run = session["run"]
            if run is None:
                return [gr.update()] * (5 + len(samples))
            progress = tr.read_progress(run.run_dir)
            state = "running"
            if not run.running:
                ckpts = tr.checkpoints(run.run_dir)
                state = f"finished (exit {run.returncode}), last checkpoint {ckpts[-1] if ckpts else 'none'}"
            plot = gr.update()
            if progress.steps:
                plot = str(
                    media.loss_png(
                        progress.steps, progress.losses, progress.evals, run.run_dir / "ui_loss.png"
                    )
                )
            mem = run.memory_gb()
            cuda = tr.cuda_memory_gb(run.run_dir) if progress.steps else None
            mem_text = "CPU " + (f"{mem:.2f} GB" if mem is not None else "-")
            mem_text += f", GPU peak {cuda:.2f} GB" if cuda is not None else ""
            eval_rows = [{k: e.get(k) for k in e} for e in progress.evals[-10:]]
            found = tr.latest_samples(run.run_dir, len(samples))
            sample_updates = [
                gr.update(value=player(found[i]), visible=True)
                if i < len(found)
                else gr.update(visible=False)
                for i in range(len(samples))
            ]
            import pandas as pd

            return [
                f"{state}: {progress.status()}",
                plot,
                mem_text,
                progress.last_line,
                pd.DataFrame(eval_rows) if eval_rows else gr.update(),
                *sample_updates,
            ]

        head = [config, preset, extra, run_name]
        load_btn.click(on_load, [config, preset], fields)
        for widget in [*head, *fields]:
            widget.change(on_change, [*head, *fields], cli)
        start_btn.click(lambda *a: start(False, *a), [*head, *fields], [cli, run_name, status])
        resume_btn.click(lambda *a: start(True, *a), [*head, *fields], [cli, run_name, status])
        stop_btn.click(stop, None, status)
        timer.tick(refresh, None, [status, loss, memory, log_tail, evals, *samples])
