"""Why does a stem separate badly? Per track of a rendered folder: the stem's share of the mix
energy, its ideal-ratio-mask SDR (an oracle bound for masking separators), and how much of it the
base's output for the stem it was split from carries (that output minus the true sibling stems,
scored as an estimate of the stem), grouped by a recipe parameter:

    python scripts/stem_diagnostics.py data/techhouse5-heldout24 --stem hihat --base-stem drums \
        --minus kick --group-by kits.hihat

README Results ("Why the hi-hat stays low") was measured with this command.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from audiolora.data.render.manifest import read_manifest, split_tracks, track_param
from audiolora.data.stems import StemDataset
from audiolora.errors import AudioloraError
from audiolora.families.separation.loading import single_model
from audiolora.families.separation.separate import separate_tensor
from audiolora.hub import load_model
from audiolora.metrics.sdr import ideal_ratio_mask, sdr_mdx


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="rendered dataset root (with manifest.json)")
    ap.add_argument("--split", default="test")
    ap.add_argument("--stem", required=True, help="the stem to diagnose (hihat)")
    ap.add_argument("--base", default="htdemucs-mini")
    ap.add_argument("--base-stem", required=True, help="the base's source it is part of (drums)")
    ap.add_argument("--minus", default="", help="comma-separated true stems also in it (kick)")
    ap.add_argument("--group-by", help="manifest parameter to group tracks by (kits.hihat)")
    args = ap.parse_args()

    manifest = read_manifest(args.data)
    sources = list(manifest["stems"])
    tracks = split_tracks(manifest, args.split)
    data = StemDataset(
        args.data / args.split,
        sources,
        segment=1.0,
        samplerate=manifest["samplerate"],
        channels=manifest["channels"],
    )
    base = single_model(load_model(args.base), args.base)
    k = sources.index(args.stem)
    minus = [sources.index(s) for s in args.minus.split(",") if s]
    rows = []
    for i, meta in enumerate(tracks):
        stems = data.load_track(i)
        mix = stems.sum(0)
        share = float((stems[k] ** 2).sum() / (mix**2).sum())
        irm = float(sdr_mdx(stems[k], ideal_ratio_mask(stems)[k]))
        carried = separate_tensor(base, mix)[list(base.sources).index(args.base_stem)]
        for j in minus:
            carried = carried - stems[j]
        label = str(track_param(meta, args.group_by)) if args.group_by else "all"
        rows.append((label, share, irm, float(sdr_mdx(stems[k], carried))))
        print(
            f"{meta['track']}  {rows[-1][0]:>4}  share {100 * share:5.2f} %  IRM {irm:6.2f} dB  "
            f"base {args.base_stem} carries it at {rows[-1][3]:6.2f} dB"
        )
    for label in sorted({r[0] for r in rows}):
        group = np.array([r[1:] for r in rows if r[0] == label])
        lo, hi = group.min(0), group.max(0)
        print(
            f"{args.group_by or 'all'}={label} ({len(group)} tracks): share {100 * lo[0]:.2f}-{100 * hi[0]:.2f} %, "
            f"IRM {lo[1]:.2f}-{hi[1]:.2f} dB, carried {lo[2]:.2f} to {hi[2]:.2f} dB"
        )


if __name__ == "__main__":
    try:
        main()
    except AudioloraError as exc:  # bad input: one line naming the file, as the CLI does
        raise SystemExit(exc.one_line()) from None
