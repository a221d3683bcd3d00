"""The guide's proof of concept: does transcribing stems beat transcribing the mix, and do
stem adapters beat the base on stems? And with a separation model: does separating the mix first
(separate-then-transcribe) beat transcribing the mix? Scores averaged over the tracks of one split.

Conditions (rows), each scored per stem and over all notes (the union of the stems' notes):
- base on mix: the base on mixture.wav (scope "all" only);
- base on stems / adapters on stems: the true stems, with the base / each stem's adapter;
- base on separated / adapters on separated: the stems a separation model makes from the mix.
Base on separated vs adapters on separated tells the adapters' share of a gain from the separator's.
With `simulated_sdr` instead of a separation model, the "separated" stems are the true stems with
the other stems mixed in at that SDR (`simulated_separation`): how good must a separator be?

With `tune_split`, the (onset, frame) thresholds of every (input, stem, model) are also tuned on that
split's same kind of input (e.g. the bass adapter on *separated* bass stems of the validation
tracks), and each row gets `tuned_scores` on the evaluated split as well.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from ...audio import read_audio
from ...console import track
from ...errors import UsageError
from ...metrics.notes import mean_scores, note_scores
from .dataset import read_notes, track_dirs
from .evaluation import FRAME_GRID, ONSET_GRID, as_tuples
from .family import load_adapted
from .inference import load_mono, predict_posteriors, to_mono_22k
from .note_creation import posteriors_to_notes
from .pipeline import merge_duplicates, separator

MIX = "mix"
STEMS = "stems"
SEPARATED = "separated"
ALL = "all"
MERGED = "all, merged"

# (input, stem, model) -> posteriorgrams {note, onset}; model is a stem name (its adapter) or "base"
Key = tuple[str, str, str]


def run_poc(
    root: Path,
    split: str,
    adapters: Mapping[str, str],
    base: str = "basic-pitch",
    separation_model: str | None = None,
    separation_adapter: str | None = None,
    limit: int | None = None,
    adapter_note_kwargs: Mapping[str, dict] | None = None,
    tune_split: str | None = None,
    merge: bool = False,
    simulated_sdr: float | None = None,
    **note_kwargs,
) -> dict:
    """Rows of {condition, scope, scores[, tuned_scores]}: base on mix, base on stems, adapters on
    stems and, with a separation model, base / adapters on separated stems. Scope "all" compares the
    union of the stems' notes with every reference note (with `merge`, scope "all, merged" also
    scores the union with each note heard in two stems kept once); a stem scope compares that
    stem's notes only. The base uses `note_kwargs`; an adapter uses `adapter_note_kwargs[stem]` when
    given (its tuned thresholds). `limit` caps the tracks of both splits. `simulated_sdr` (dB)
    replaces the separation model by `simulated_separation` of the true stems."""
    if simulated_sdr is not None and separation_model is not None:
        raise UsageError("--simulated-sdr replaces --separation-model: give one of them")
    adapter_note_kwargs = adapter_note_kwargs or {}
    base_model = load_adapted(base, None)
    models = {"base": base_model} | {s: load_adapted(base, path) for s, path in adapters.items()}
    separate_fn = _separated_inputs(separation_model, separation_adapter, simulated_sdr)

    conditions: list[tuple[str, str, bool]] = [("base on mix", MIX, False)]
    conditions.append(("base on stems", STEMS, False))
    if adapters:
        conditions.append(("adapters on stems", STEMS, True))
    if separate_fn is not None:
        conditions.append(("base on separated", SEPARATED, False))
        if adapters:
            conditions.append(("adapters on separated", SEPARATED, True))

    def model_for(stem: str, with_adapters: bool) -> str:
        return stem if with_adapters and stem in adapters else "base"

    def default_kwargs(model_key: str) -> dict:
        if model_key == "base":
            return dict(note_kwargs)
        return dict(adapter_note_kwargs.get(model_key, note_kwargs))

    tuned: dict[Key, dict] = {}
    if tune_split is not None:
        tuned = _tune(
            track_dirs(root, tune_split)[:limit],
            conditions,
            models,
            model_for,
            separate_fn,
            note_kwargs.get("min_note_ms", 127.70),
        )

    dirs = track_dirs(root, split)[:limit]
    scores: dict[tuple[str, str], list[dict]] = {}
    tuned_scores: dict[tuple[str, str], list[dict]] = {}
    # (where the scores go, the note options of an (input, stem, model) key)
    passes = [(scores, lambda key: default_kwargs(key[2]))]
    if tuned:
        passes.append((tuned_scores, lambda key: {**default_kwargs(key[2]), **tuned.get(key, {})}))
    for folder in track(dirs, "transcribe-poc"):
        inputs = _inputs(folder, separate_fn)
        refs = _references(folder)
        posts: dict[Key, dict] = {}
        for condition, source, with_adapters in conditions:
            for table, options in passes:
                per_stem = {}
                for stem, audio in inputs[source].items():
                    key = (source, stem, model_for(stem, with_adapters))
                    if key not in posts:
                        posts[key] = predict_posteriors(models[key[2]], audio)
                    notes = as_tuples(posteriors_to_notes(posts[key], **options(key)))
                    per_stem[stem] = notes
                    if stem in refs and source != MIX:
                        table.setdefault((condition, stem), []).append(
                            note_scores(refs[stem], notes)
                        )
                union = [n for notes in per_stem.values() for n in notes]
                table.setdefault((condition, ALL), []).append(note_scores(refs[ALL], union))
                if merge and source != MIX:
                    table.setdefault((condition, MERGED), []).append(
                        note_scores(refs[ALL], merge_duplicates(union))
                    )
    rows = []
    for (condition, scope), values in scores.items():
        row = {"condition": condition, "scope": scope, "scores": mean_scores(values)}
        if (condition, scope) in tuned_scores:
            row["tuned_scores"] = mean_scores(tuned_scores[(condition, scope)])
        rows.append(row)
    out: dict = {"split": split, "tracks": len(dirs), "rows": rows}
    if simulated_sdr is not None:
        out["simulated_sdr"] = float(simulated_sdr)
    if tuned:
        out["tuned_on"] = tune_split
        out["tuned_thresholds"] = [
            {"input": k[0], "stem": k[1], "model": k[2], **v} for k, v in sorted(tuned.items())
        ]
    return out


def simulated_separation(stems: Mapping[str, np.ndarray], sdr_db: float) -> dict[str, np.ndarray]:
    """Each stem with the sum of the others mixed in at the level that leaves it `sdr_db` dB of
    (MDX) SDR: a separator whose only error is interference, no artifacts. Stems are same-length
    arrays; a stem alone in its track, or silent, comes back unchanged."""
    total = sum(stems.values())
    out = {}
    for name, stem in stems.items():
        rest = total - stem
        stem_power, rest_power = float(np.sum(stem**2)), float(np.sum(rest**2))
        gain = 0.0
        if rest_power > 0 and stem_power > 0:
            gain = np.sqrt(stem_power / rest_power) * 10 ** (-sdr_db / 20)
        out[name] = (stem + gain * rest).astype(np.float32)
    return out


def _separated_inputs(
    model: str | None, adapter: str | None, simulated_sdr: float | None
) -> Callable[[Path, dict[str, np.ndarray]], dict[str, np.ndarray]] | None:
    """A function (track folder, its true mono stems) -> separated mono 22.05 kHz stems: the
    separation model run on mixture.wav, or the simulated separator; None when neither is asked."""
    if simulated_sdr is not None:
        return lambda _folder, stems: simulated_separation(stems, simulated_sdr)
    if model is None:
        return None
    separate = separator(model, adapter)

    def run(folder: Path, _stems: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        audio, sr = read_audio(folder / "mixture.wav")
        return {s: to_mono_22k(wav, sr) for s, wav in separate(audio, sr).items()}

    return run


def _inputs(folder: Path, separate_fn: Callable | None) -> dict[str, dict[str, np.ndarray]]:
    """Mono 22.05 kHz audio per input kind: {mix: {all: ...}, stems: {...}, separated: {...}}."""
    stems = [s for s in _stem_names(folder) if (folder / f"{s}.wav").is_file()]
    out = {
        MIX: {ALL: load_mono(folder / "mixture.wav")},
        STEMS: {s: load_mono(folder / f"{s}.wav") for s in stems},
    }
    if separate_fn is not None:
        out[SEPARATED] = separate_fn(folder, out[STEMS])
    return out


def _references(folder: Path) -> dict[str, list]:
    refs = {s: read_notes(folder, s) for s in _stem_names(folder)}
    refs[ALL] = read_notes(folder, None)
    return refs


def _tune(
    dirs: list[Path],
    conditions: list[tuple[str, str, bool]],
    models: Mapping,
    model_for: Callable[[str, bool], str],
    separate_fn: Callable | None,
    min_note_ms: float,
) -> dict[Key, dict]:
    """The (onset, frame) thresholds with the best mean onset F1 for each (input, stem, model) on
    the tracks in `dirs`; inputs without reference notes (a separated stem the dataset lacks) are
    left at their defaults."""
    posts: dict[Key, list] = {}
    refs: dict[Key, list] = {}
    for folder in track(dirs, "tune thresholds"):
        inputs = _inputs(folder, separate_fn)
        references = _references(folder)
        done: set[Key] = set()
        for _condition, source, with_adapters in conditions:
            for stem, audio in inputs[source].items():
                key = (source, stem, model_for(stem, with_adapters))
                if stem not in references or key in done:
                    continue
                done.add(key)
                post = predict_posteriors(models[key[2]], audio)
                posts.setdefault(key, []).append({k: post[k] for k in ("note", "onset")})
                refs.setdefault(key, []).append(references[stem])
    tuned = {}
    for key, items in posts.items():
        best = None
        for onset in ONSET_GRID:
            for frame in FRAME_GRID:
                kwargs = {
                    "onset_threshold": onset,
                    "frame_threshold": frame,
                    "min_note_ms": min_note_ms,
                }
                f1 = float(
                    np.mean(
                        [
                            _onset_f1(ref, as_tuples(posteriors_to_notes(post, **kwargs)))
                            for post, ref in zip(items, refs[key], strict=True)
                        ]
                    )
                )
                if best is None or f1 > best[0]:
                    best = (f1, onset, frame)
        tuned[key] = {"onset_threshold": best[1], "frame_threshold": best[2]}
    return tuned


def _onset_f1(reference, estimate) -> float:
    """Onset F1 (50 ms, 50 cents) alone: note_scores' first figure without the slower others."""
    import warnings

    import mir_eval

    ref = [(float(a), float(b), float(p)) for a, b, p, *_ in reference if float(b) > float(a)]
    est = [(float(a), float(b), float(p)) for a, b, p, *_ in estimate if float(b) > float(a)]
    if not ref or not est:
        return 1.0 if not ref and not est else 0.0
    ref_a, est_a = np.asarray(ref), np.asarray(est)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, _, f1, _ = mir_eval.transcription.precision_recall_f1_overlap(
            ref_a[:, :2],
            mir_eval.util.midi_to_hz(ref_a[:, 2]),
            est_a[:, :2],
            mir_eval.util.midi_to_hz(est_a[:, 2]),
            onset_tolerance=0.05,
            offset_ratio=None,
        )
    return float(f1)


def _stem_names(folder: Path) -> list[str]:
    return list(json.loads((folder / "notes.json").read_text())["stems"])
