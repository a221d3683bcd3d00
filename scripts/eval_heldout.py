"""Evaluate a separation adapter on renders it never saw, with per-track SDR grouped by a recipe
parameter from the render's manifest (e.g. the hi-hat's drum kit):

    audiolora data render --recipe techhouse5 --tracks 24 --seconds 10 --samplerate 22050 \
        --splits 0,0,1 --seed 99 --out data/techhouse5-heldout24
    python scripts/eval_heldout.py outputs/<run>/final data/techhouse5-heldout24 --group-by kits.hihat

`audiolora eval RUN` scores a run on its own test split; this one takes any rendered folder, so
the issue's held-out goals and their breakdown (README Results) can be re-measured in one line.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from audiolora.data.files import write_json
from audiolora.data.render.manifest import read_manifest, split_tracks, track_param
from audiolora.errors import AudioloraError
from audiolora.families.separation.evaluate import evaluate_models, print_table
from audiolora.families.separation.loading import single_model
from audiolora.families.separation.model import load_adapted
from audiolora.hub import load_model


def grouped(per_track: list[float], labels: list) -> dict[str, dict]:
    """Mean adapted SDR and track count per label."""
    values = np.asarray(per_track)
    out = {}
    for label in sorted(set(labels), key=str):
        mask = np.asarray([lab == label for lab in labels])
        out[str(label)] = {"tracks": int(mask.sum()), "sdr_mdx": float(values[mask].mean())}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("adapter", type=Path, help="adapter folder (a run's final/ or best/)")
    ap.add_argument("data", type=Path, help="rendered dataset root (with manifest.json)")
    ap.add_argument("--split", default="test")
    ap.add_argument("--base", default="htdemucs-mini", help="the adapter's base model")
    ap.add_argument("--group-by", help="manifest parameter to group per-track SDR by (kits.hihat)")
    ap.add_argument("--out", type=Path, help="JSON report (default: next to the adapter folder)")
    args = ap.parse_args()

    model, links = load_adapted(args.adapter)
    base = single_model(load_model(args.base), args.base)
    report = evaluate_models(model, base, links, args.data / args.split)
    print_table(report)
    if args.group_by:
        tracks = split_tracks(read_manifest(args.data), args.split)
        labels = [track_param(t, args.group_by) for t in tracks]
        report["groups"] = {
            stem: grouped(report["per_track"][stem]["adapted"]["mdx"], labels)
            for stem in report["stems"]
        }
        for stem, groups in report["groups"].items():
            parts = [f"{k}: {g['sdr_mdx']:.2f} ({g['tracks']})" for k, g in groups.items()]
            print(f"{stem:>8} by {args.group_by}: " + ", ".join(parts))
    out = args.out or args.adapter.parent / f"heldout-{args.data.name}.json"
    write_json(out, report)
    print(f"report: {out}")


if __name__ == "__main__":
    try:
        main()
    except AudioloraError as exc:  # bad input: one line naming the file, as the CLI does
        raise SystemExit(exc.one_line()) from None
