"""The local web UI (`audiolora ui`): a Gradio app over the same Python API the CLI uses.

Plain, testable functions live in the modules here (training, media, inference; the caption table in data.caption_table);
`tabs/` only lays out widgets and wires them to those functions.
"""
