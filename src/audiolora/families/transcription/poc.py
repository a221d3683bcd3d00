"""The guide's proof of concept: does transcribing stems beat transcribing the mix, and do
stem adapters beat the base on stems? Scores averaged over the tracks of one split."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ...audio import read_audio
from ...console import track
from ...metrics.notes import mean_scores, note_scores
from .dataset import read_notes, track_dirs
from .evaluation import as_tuples
from .family import load_adapted
from .inference import load_mono, transcribe_audio


def run_poc(
    root: Path,
    split: str,
    adapters: Mapping[str, str],
    base: str = "basic-pitch",
    separation_model: str | None = None,
    separation_adapter: str | None = None,
    limit: int | None = None,
    adapter_note_kwargs: Mapping[str, dict] | None = None,
    **note_kwargs,
) -> dict:
    """Rows of {condition, scope, scores}: base on mix, base on stems, adapters on stems, and with a
    separation model, adapters on separated stems. Scope "all" compares every transcribed note with
    every reference note; a stem scope compares that stem's notes only. The base uses
    `note_kwargs`; an adapter uses `adapter_note_kwargs[stem]` when given (its tuned thresholds)."""
    adapter_note_kwargs = adapter_note_kwargs or {}
    dirs = track_dirs(root, split)[:limit]
    base_model = load_adapted(base, None)
    adapted = {stem: load_adapted(base, path) for stem, path in adapters.items()}
    scores: dict[tuple[str, str], list[dict]] = {}

    def add(condition: str, scope: str, ref, est) -> None:
        scores.setdefault((condition, scope), []).append(note_scores(ref, est))

    for folder in track(dirs, "transcribe-poc"):
        all_notes = read_notes(folder, None)
        stems = [s for s in _stem_names(folder) if (folder / f"{s}.wav").is_file()]
        add(
            "base on mix",
            "all",
            all_notes,
            as_tuples(
                transcribe_audio(base_model, load_mono(folder / "mixture.wav"), **note_kwargs)
            ),
        )
        stem_audio = {s: load_mono(folder / f"{s}.wav") for s in stems}
        conditions = [("base on stems", {})]
        if adapted:
            conditions.append(("adapters on stems", adapted))
        for condition, models in conditions:
            union = []
            for s in stems:
                kwargs = adapter_note_kwargs.get(s, note_kwargs) if s in models else note_kwargs
                est = as_tuples(
                    transcribe_audio(models.get(s, base_model), stem_audio[s], **kwargs)
                )
                add(condition, s, read_notes(folder, s), est)
                union += est
            add(condition, "all", all_notes, union)
        if separation_model:
            from .inference import to_mono_22k
            from .pipeline import separate

            audio, sr = read_audio(folder / "mixture.wav")
            separated = separate(audio, sr, separation_model, separation_adapter)
            union = []
            for s, wav in separated.items():
                kwargs = adapter_note_kwargs.get(s, note_kwargs) if s in adapted else note_kwargs
                mono = to_mono_22k(wav, sr)
                est = as_tuples(transcribe_audio(adapted.get(s, base_model), mono, **kwargs))
                if s in stems:
                    add("adapters on separated", s, read_notes(folder, s), est)
                union += est
            add("adapters on separated", "all", all_notes, union)
    rows = [{"condition": c, "scope": s, "scores": mean_scores(v)} for (c, s), v in scores.items()]
    return {"split": split, "tracks": len(dirs), "rows": rows}


def _stem_names(folder: Path) -> list[str]:
    import json

    return list(json.loads((folder / "notes.json").read_text())["stems"])
