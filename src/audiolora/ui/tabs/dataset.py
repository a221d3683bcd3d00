"""Dataset tab: a folder's captions as an editable table, playback, fill from signal, tags, checks."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from ...data import caption_table as dt
from .common import Context, one_line_errors, player


def _rows(df) -> list[list[str]]:
    if df is None:
        return []
    values = df.values.tolist() if hasattr(df, "values") else list(df)
    return [
        ["" if c is None else str(c) for c in row] for row in values if row and str(row[0]).strip()
    ]


def build(ctx: Context) -> None:
    with gr.Tab("Dataset", id="dataset"):
        with gr.Row():
            folder = gr.Textbox(label="Folder of audio files", scale=3, elem_id="ds-folder")
            csv = gr.Textbox(
                label="Captions CSV (empty: <folder>/captions.csv)", scale=2, elem_id="ds-csv"
            )
            open_btn = gr.Button("Open", variant="primary", elem_id="ds-open")
        table = gr.Dataframe(
            headers=list(dt.COLUMNS),
            datatype=["str"] * len(dt.COLUMNS),
            interactive=True,
            wrap=True,
            elem_id="ds-table",
        )
        with gr.Row():
            pick = gr.Dropdown(label="File", choices=[], scale=2, elem_id="ds-file")
            audio = gr.Audio(label="Playback", interactive=False, scale=3)
        with gr.Row():
            caption = gr.Textbox(label="Caption of this file", scale=4, elem_id="ds-caption")
            set_btn = gr.Button("Set caption", elem_id="ds-set-caption")
        with gr.Row():
            tag = gr.Textbox(label="Activation tag", elem_id="ds-tag")
            mode = gr.Radio(["prepend", "append", "replace"], value="prepend", label="Tag mode")
            tag_btn = gr.Button("Apply tag", elem_id="ds-apply-tag")
            overwrite = gr.Checkbox(label="Overwrite BPM / key", value=False)
            fill_btn = gr.Button("Fill from signal", elem_id="ds-fill")
        with gr.Row():
            check_btn = gr.Button("Check", elem_id="ds-check")
            save_btn = gr.Button("Save CSV", variant="primary", elem_id="ds-save")
        problems = gr.Textbox(
            label="Problems (one per line)", lines=5, interactive=False, elem_id="ds-problems"
        )
        status = gr.Markdown(elem_id="ds-status")

        @one_line_errors
        def on_open(folder_text, csv_text):
            rows = dt.load_table(folder_text, csv_text or None)
            names = [r[0] for r in rows]
            first = next((r[0] for r in rows if r[1]), names[0])  # stems of a song have no caption
            return (
                rows,
                gr.update(choices=names, value=first),
                f"opened {len(rows)} files from {folder_text}",
            )

        def on_pick(folder_text, df, name):
            rows = _rows(df)
            text = next((r[1] for r in rows if r[0] == name), "")
            path = Path(folder_text) / name if name else None
            return player(path), text

        def on_set(df, name, text):
            rows = _rows(df)
            for r in rows:
                if r[0] == name:
                    r[1] = text
            return rows, f"caption of {name} set (not saved yet)"

        @one_line_errors
        def on_tag(df, tag_text, mode_value):
            return dt.tag_rows(_rows(df), tag_text, mode_value), f"tag {tag_text!r} {mode_value}ed"

        @one_line_errors
        def on_fill(folder_text, df, over, progress=gr.Progress()):
            rows = _rows(df)
            filled = []
            for row in progress.tqdm(rows, desc="analysing"):
                filled += dt.fill_rows([row], folder_text, overwrite=over)
            return filled, f"BPM and key estimated for {len(filled)} files"

        @one_line_errors
        def on_check(folder_text, df):
            lines = dt.check_lines(folder_text, _rows(df))
            return "\n".join(lines) or "no problems found", f"{len(lines)} problem(s)"

        @one_line_errors
        def on_save(folder_text, csv_text, df):
            path = dt.save_table(_rows(df), folder_text, csv_text or None)
            return f"saved {path}"

        open_btn.click(on_open, [folder, csv], [table, pick, status])
        pick.change(on_pick, [folder, table, pick], [audio, caption])
        set_btn.click(on_set, [table, pick, caption], [table, status])
        tag_btn.click(on_tag, [table, tag, mode], [table, status])
        fill_btn.click(on_fill, [folder, table, overwrite], [table, status])
        check_btn.click(on_check, [folder, table], [problems, status])
        save_btn.click(on_save, [folder, csv, table], [status])
