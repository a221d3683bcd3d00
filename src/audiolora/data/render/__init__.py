"""Render real multi-stem music from scores and MIDI with FluidSynth (like Slakh2100 from MIDI).

`render_dataset(recipe, out, tracks)` writes `<out>/{train,valid,test}/<track>/{mixture.wav,
<stem>.wav..., notes.json, notes.mid}` and `<out>/manifest.json`.
"""

from .dataset import RECIPES, assign_splits, get_recipe, render_dataset, render_track
from .synth import Note, Part, Synth, find_soundfont

__all__ = [
    "RECIPES",
    "Note",
    "Part",
    "Synth",
    "assign_splits",
    "find_soundfont",
    "get_recipe",
    "render_dataset",
    "render_track",
]
