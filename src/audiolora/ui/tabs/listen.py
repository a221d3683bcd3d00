"""Listen tab: a blind test between two folders of clips; 1-5 ratings appended to a CSV; MOS with
95 % intervals per system at the end."""

from __future__ import annotations

import time
from pathlib import Path

import gradio as gr

from ...metrics import listening as ls
from .common import Context, one_line_errors, player


def build(ctx: Context) -> None:
    with gr.Tab("Listen", id="listen"):
        with gr.Row():
            folder_a = gr.Textbox(label="System A: folder of clips", elem_id="ls-a")
            folder_b = gr.Textbox(label="System B: folder of clips", elem_id="ls-b")
        with gr.Row():
            rater = gr.Textbox(label="Your name", elem_id="ls-rater")
            csv = gr.Textbox(
                str(ctx.work_dir / "listening.csv"), label="Ratings CSV", elem_id="ls-csv"
            )
            seed = gr.Number(0, precision=0, label="Order seed (0: random)")
            start_btn = gr.Button("Start test", variant="primary", elem_id="ls-start")
        trials = gr.State([])
        session = gr.State("")
        position = gr.State(0)
        progress = gr.Markdown(elem_id="ls-progress")
        clip = gr.Audio(label="Clip", interactive=False, elem_id="ls-clip")
        rating = gr.Radio(
            [1, 2, 3, 4, 5], label="Rating (1 bad - 5 excellent)", elem_id="ls-rating"
        )
        submit = gr.Button("Submit rating", elem_id="ls-submit")
        summary = gr.Textbox(label="Summary", lines=4, interactive=False, elem_id="ls-summary")

        def show(items, index):
            if index >= len(items):
                return f"done: {len(items)} clips rated", None
            return f"clip {index + 1} of {len(items)}", player(items[index].path)

        @one_line_errors
        def on_start(a, b, seed_value):
            names = {f"A ({Path(a).name})": a, f"B ({Path(b).name})": b}
            seed_value = int(seed_value or 0) or time.time_ns() % 2**31
            items = ls.make_trials(names, seed_value)
            sid = time.strftime("%Y%m%d-%H%M%S") + f"-{seed_value}"
            text, audio = show(items, 0)
            return items, sid, 0, text, audio, None, ""

        @one_line_errors
        def on_submit(items, sid, index, who, csv_path, value):
            from ...errors import UsageError

            if not items or index >= len(items):
                raise UsageError("start a test first")
            if value is None:
                raise UsageError("pick a rating from 1 to 5")
            ls.append_rating(csv_path, sid, who or "anonymous", items[index], int(value))
            index += 1
            text, audio = show(items, index)
            result = ""
            if index >= len(items):
                result = ls.format_summary(ls.summarize(ls.read_ratings(csv_path, sid)))
            return index, text, audio, None, result

        start_btn.click(
            on_start,
            [folder_a, folder_b, seed],
            [trials, session, position, progress, clip, rating, summary],
        )
        submit.click(
            on_submit,
            [trials, session, position, rater, csv, rating],
            [position, progress, clip, rating, summary],
        )
