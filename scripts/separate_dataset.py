"""Write a copy of a stem-folder dataset whose stems are separated from each track's mixture.

Transcription adapters trained on such a copy learn the separator's own artefacts (issue 7's
"adapters trained on separated stems"). `mixture.wav` and `notes.json` are linked, not copied:

    python scripts/separate_dataset.py data/chorales-satb22k data/chorales-satb22k-sep \
        --model htdemucs-mini --adapter outputs/chorales-satb/final --splits train,valid
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from audiolora.audio import read_audio, write_audio
from audiolora.console import track
from audiolora.families.transcription.pipeline import separator


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path, help="dataset root with <split>/<track>/mixture.wav")
    ap.add_argument("dst", type=Path, help="where the separated copy goes")
    ap.add_argument("--model", default="htdemucs-mini", help="separation base model")
    ap.add_argument("--adapter", help="separation adapter folder (its stems are used)")
    ap.add_argument("--splits", default="train,valid", help="comma-separated splits")
    args = ap.parse_args()
    run = separator(args.model, args.adapter)
    for split in args.splits.split(","):
        folders = sorted(f for f in (args.src / split).iterdir() if (f / "mixture.wav").is_file())
        for folder in track(folders, f"separate {split}"):
            out = args.dst / split / folder.name
            out.mkdir(parents=True, exist_ok=True)
            mix, sr = read_audio(folder / "mixture.wav")
            for name, wav in run(mix, sr).items():
                write_audio(out / f"{name}.wav", wav, sr)
            for name in ("mixture.wav", "notes.json"):
                if (folder / name).exists() and not (out / name).exists():
                    os.symlink((folder / name).resolve(), out / name)


if __name__ == "__main__":
    main()
