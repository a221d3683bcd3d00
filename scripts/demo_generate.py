"""Helpers of `make demo-generate`: fit the style classifier, print the base-vs-adapted table.

    python scripts/demo_generate.py style --traditional data/traditional-48 \\
        --western data/western-demo-pop4 data/western-demo-techhouse5 data/western-demo-chorales \\
        --through-codec gen-mini
    python scripts/demo_generate.py table outputs/demo-generate

`style` fits a metrics.style.StyleClassifier (western vs traditional, on 4 s pieces of the renders'
train splits) and saves it to `<traditional>/.audiolora-style/`, where the generation report finds it
and adds style_accuracy; it prints the classifier's accuracy on the renders' held-out splits. With
`--through-codec MODEL` every piece first goes through MODEL's codec (encode, decode), so that the
classifier judges style in the domain the generated clips live in, not the codec's artifacts (both
labels go through the same codec; the base and the adapted clips are decoded by it too).
`table` prints the newest run's report (metrics.json) beside seed 001's published changes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from audiolora.errors import AudioloraError, DataError
from audiolora.families.generation.report import STYLE_FOLDER
from audiolora.metrics.style import clip_features, render_clips, train_style_classifier

SEED_001 = {"afd": "-34.5 %", "log_mel": "-11.7 %", "frechet": "n/a", "style_accuracy": "n/a"}
GOALS = {
    "afd": "<= -35 %",
    "log_mel": "<= -12 %",
    "frechet": "",
    "style_accuracy": "adapted >= 0.8",
}
PIECE_SECONDS = 4.0


def codec_transform(model: str | None):
    if not model:
        return None
    from audiolora.families.generation.bases import resolve_location
    from audiolora.families.generation.codecs import load_codec, round_trip

    return round_trip(load_codec(resolve_location(model)))


def fit_style(traditional: Path, western: list[Path], through_codec: str | None = None) -> None:
    sets = {"western": western, "traditional": [traditional]}
    transform = codec_transform(through_codec)
    clf = train_style_classifier(
        sets, splits=("train",), seconds=PIECE_SECONDS, embedding=False, transform=transform
    )
    feats, labels = [], []
    for label, roots in sets.items():
        for root in roots:
            clips, sr = render_clips(root, ("valid", "test"), PIECE_SECONDS, transform)
            if clips:
                feats.append(clip_features(clips, sr, embedding=False))
                labels += [label] * len(clips)
    folder = clf.save(traditional / STYLE_FOLDER)
    if feats:
        acc = clf.accuracy(np.concatenate(feats), labels)
        print(f"style classifier -> {folder}: accuracy {acc:.3f} on {len(labels)} held-out pieces")


def newest_metrics(folder: Path) -> Path:
    found = sorted(folder.rglob("metrics.json"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise DataError(f"{folder}: no metrics.json under it; run `audiolora train` first")
    return found[-1]


def print_table(folder: Path) -> None:
    path = newest_metrics(folder)
    report = json.loads(path.read_text()).get("report", {})
    rows = report.get("generation", {})
    if not rows or "skipped" in rows:
        raise DataError(f"{path}: no base-vs-adapted table ({rows.get('skipped', 'no report')})")
    print(
        f"{path.parent}  ({report.get('eval_clips')} held-out clips of {report.get('eval_seconds')} s)"
    )
    head = f"{'metric':<16}{'base':>10}{'adapted':>10}{'change':>10}{'seed 001':>10}  goal"
    print(head)
    print("-" * len(head))
    for metric, row in rows.items():
        change = "n/a" if row["change_pct"] is None else f"{row['change_pct']:+.1f} %"
        print(
            f"{metric:<16}{row['base']:>10.4f}{row['adapted']:>10.4f}{change:>10}"
            f"{SEED_001.get(metric, ''):>10}  {GOALS.get(metric, '')}"
        )
    print(f"adapter effect {report.get('adapter_effect')}; samples in {report.get('samples')}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("style")
    s.add_argument("--traditional", type=Path, required=True)
    s.add_argument("--western", type=Path, nargs="+", required=True)
    s.add_argument("--through-codec", help="pass every piece through this model's codec first")
    t = sub.add_parser("table")
    t.add_argument("folder", type=Path)
    args = ap.parse_args(argv)
    try:
        if args.command == "style":
            fit_style(args.traditional, args.western, args.through_codec)
        else:
            print_table(args.folder)
    except AudioloraError as exc:
        raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    main()
