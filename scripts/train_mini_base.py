"""Train `htdemucs-mini`, the small pretrained 4-stem HT-Demucs base that audiolora ships.

The released htdemucs weights cannot be downloaded everywhere, so the project trains its own small
base (drums, bass, other, vocals) on renders, on CPU. The bundled weights came from two runs, the
second continuing the first with chorales added (their record is in htdemucs_mini.json):

    OMP_NUM_THREADS=1 python scripts/train_mini_base.py --minutes 75 \
        --data data/pop4-22k data/techhouse5-22k
    OMP_NUM_THREADS=1 python scripts/train_mini_base.py --minutes 100 --lr 5e-4 \
        --init src/audiolora/assets

`--data` lists stem-folder datasets (train/ and test/ with one folder per track). A track's drums
are its drums.wav, or the sum of kick.wav and hihat.wav (techhouse5), so that the base, like
htdemucs, has heard electronic drums as well as acoustic ones; a chorale's soprano is its lead
("vocals", the line pop4 renders as a lead melody), alto + tenor its "other", bass its bass, and it
has no drums. A `--data` folder that does not exist yet is rendered first from the recipe its name
starts with (pop4: 96 tracks, techhouse5: 48, chorales: 140 less the SATB demo set's pieces; 12 s
at 22.05 kHz, splits 0.85/0.05/0.10, seeds that no demo uses). The learning rate warms up, then
follows a cosine over the time budget.
Weights go to src/audiolora/assets/htdemucs_mini.safetensors in demucs's own safetensors format
(class and kwargs as JSON metadata, loadable with `demucs.hf.load_safetensors_model`), the config
and per-dataset test SDR to htdemucs_mini.json.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

SOURCES = ["drums", "bass", "other", "vocals"]
ASSETS = Path(__file__).resolve().parents[1] / "src" / "audiolora" / "assets"

# Model size chosen so that one Adam step (batch 4 x 3 s at 22.05 kHz) takes ~1.5 s on 2 CPU
# threads: depth 4 with nfft 2048 keeps the transformer's sequence short (4 bins x 130 frames).
MODEL_KWARGS = dict(
    sources=SOURCES,
    audio_channels=2,
    samplerate=22050,
    segment=Fraction(3, 1),
    channels=16,
    depth=4,
    nfft=2048,
    t_layers=2,
    t_heads=4,
    t_hidden_scale=2.0,
    t_dropout=0.0,
    bottom_channels=0,
    dconv_mode=3,
)


# --------------------------------------------------------------------------- data


# A base source found under other names: the sum of these files when its own file is missing
# (techhouse5's kick + hihat are drums; a chorale's soprano is the lead line that pop4 renders as
# "vocals", its inner voices the pitched accompaniment of "other"). No file at all: silence.
ALIASES = {"drums": ("kick", "hihat"), "vocals": ("soprano",), "other": ("alto", "tenor")}
RECIPES = {"pop4": (96, 328), "techhouse5": (48, 4242), "chorales": (140, 4343)}  # tracks, seed
# The chorales of the SATB demo set (configs/separation/chorales_satb.yaml renders 80 tracks with
# seed 7) are left out of the base's chorales, so that the SATB adapter is measured on music the
# base never heard.
HELD_OUT_CHORALES = (80, 7)
# Share of examples that are a whole track (all stems from one track and offset, so voices that
# share key and rhythm, as in a real mix) rather than a Demucs-style remix.
COHERENT_SHARE = 0.5


def _read(path: Path, samplerate: int) -> np.ndarray:
    audio, sr = sf.read(path, dtype="float32", always_2d=True)
    if sr != samplerate:
        audio = soxr.resample(audio, sr, samplerate)
    if audio.shape[1] == 1:
        audio = np.repeat(audio, 2, 1)
    return audio.T


@functools.cache
def _satb_demo_works() -> frozenset[str]:
    from audiolora.data.render.chorales import select_chorales, work_id

    return frozenset(work_id(c.name) for c in select_chorales(*HELD_OUT_CHORALES))


def held_out_works(root: Path) -> set[str]:
    """Works (BWV numbers) a chorales render must not share with the SATB demo set."""
    return set(_satb_demo_works()) if root.name.startswith("chorales") else set()


def _stem(folder: Path, name: str, samplerate: int) -> np.ndarray | None:
    parts = [name] if (folder / f"{name}.wav").is_file() else ALIASES.get(name, (name,))
    audio = [
        _read(folder / f"{part}.wav", samplerate)
        for part in parts
        if (folder / f"{part}.wav").is_file()
    ]
    if not audio:
        return None
    length = min(a.shape[-1] for a in audio)
    return np.ascontiguousarray(sum(a[:, :length] for a in audio))


def load_split(root: Path, split: str, samplerate: int) -> list[torch.Tensor]:
    """Each track of a split as a float32 tensor [S, C, T] at `samplerate` (silence where absent)."""
    from audiolora.data.render.chorales import work_id
    from audiolora.data.render.manifest import read_manifest

    skip = held_out_works(root)
    manifest = read_manifest(root) if skip else {"tracks": []}
    skipped = {t["track"] for t in manifest["tracks"] if work_id(t["piece"]) in skip}
    tracks = []
    for folder in sorted(p for p in (root / split).iterdir() if p.is_dir()):
        if folder.name in skipped:
            continue
        stems = [_stem(folder, name, samplerate) for name in SOURCES]
        length = min(s.shape[-1] for s in stems if s is not None)
        tracks.append(
            torch.stack(
                [
                    torch.zeros(2, length) if s is None else torch.from_numpy(s[:, :length])
                    for s in stems
                ]
            )
        )
    if not tracks:
        raise SystemExit(f"{root / split}: no track folders found")
    if skipped:
        print(f"{root / split}: left out the tracks of {len(skip)} SATB demo chorales", flush=True)
    return tracks


def stems_present(tracks: list[torch.Tensor]) -> list[list[int]]:
    """Per source, the indices of the tracks that have it (not silence)."""
    return [[i for i, t in enumerate(tracks) if t[s].abs().amax() > 0] for s in range(len(SOURCES))]


def remix_batch(
    tracks: list[torch.Tensor],
    batch: int,
    length: int,
    gen: torch.Generator,
    has: list[list[int]],
) -> torch.Tensor:
    """A whole track (`COHERENT_SHARE` of examples) or a Demucs-style remix (every stem from a random
    track that has it and a random offset); then random gain, channel swap and polarity per stem."""
    out = torch.empty(batch, len(SOURCES), 2, length)
    for b in range(batch):
        coherent = torch.rand(1, generator=gen).item() < COHERENT_SHARE
        whole = tracks[int(torch.randint(len(tracks), (1,), generator=gen))]
        whole_start = int(torch.randint(whole.shape[-1] - length + 1, (1,), generator=gen))
        for s in range(len(SOURCES)):
            if coherent:
                track, start = whole, whole_start
            else:
                pool = has[s] or range(len(tracks))
                track = tracks[pool[int(torch.randint(len(pool), (1,), generator=gen))]]
                start = int(torch.randint(track.shape[-1] - length + 1, (1,), generator=gen))
            stem = track[s, :, start : start + length]
            if torch.rand(1, generator=gen) < 0.5:
                stem = stem.flip(0)
            sign = -1.0 if torch.rand(1, generator=gen) < 0.5 else 1.0
            gain = 0.25 + torch.rand(1, generator=gen).item()
            out[b, s] = stem * gain * sign
    return out


# --------------------------------------------------------------------------- train / evaluate


def sdr_mdx(reference: torch.Tensor, estimate: torch.Tensor) -> float:
    """MDX 'new' SDR of one stem of one track: 10 log10(|s|^2 / |s - s_hat|^2)."""
    num = reference.pow(2).sum() + 1e-8
    den = (reference - estimate).pow(2).sum() + 1e-8
    return float(10 * torch.log10(num / den))


def evaluate(model, tracks: list[torch.Tensor]) -> dict[str, float]:
    from demucs.apply import apply_model

    model.eval()
    scores = {name: [] for name in SOURCES}
    with torch.no_grad():
        for track in tracks:
            mix = track.sum(0)
            est = apply_model(model, mix[None], split=True, overlap=0.25, progress=False)[0]
            for i, name in enumerate(SOURCES):
                if track[i].abs().amax() > 0:  # a dataset without the source (chorales: drums)
                    scores[name].append(sdr_mdx(track[i], est[i]))
    return {name: float(np.mean(v)) for name, v in scores.items() if v}


def encode(value):
    if isinstance(value, Fraction):
        return {"_type": "fraction", "numerator": value.numerator, "denominator": value.denominator}
    return value


def save(model, extra: dict, out: Path = ASSETS) -> None:
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    kwargs = {k: encode(v) for k, v in MODEL_KWARGS.items()}
    meta = {"klass": "demucs.htdemucs.HTDemucs", "args": "[]", "kwargs": json.dumps(kwargs)}
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    target = out / "htdemucs_mini.safetensors"
    fd, tmp = tempfile.mkstemp(dir=out, suffix=".tmp")
    os.close(fd)
    save_file(state, tmp, metadata=meta)
    os.chmod(tmp, 0o644)  # mkstemp creates 0600; the asset ships with the package
    os.replace(tmp, target)
    info = {"name": "htdemucs-mini", "class": "demucs.htdemucs.HTDemucs", "kwargs": kwargs, **extra}
    tmp = out / "htdemucs_mini.json.tmp"
    tmp.write_text(json.dumps(info, indent=2) + "\n")
    os.replace(tmp, out / "htdemucs_mini.json")


def scheduled_lr(peak: float, progress: float, warmup: float) -> float:
    """Linear warmup over the first `warmup` of the budget, then a cosine to 0 at its end."""
    if progress < warmup:
        return peak * max(progress / warmup, 0.01)
    rest = min((progress - warmup) / max(1.0 - warmup, 1e-9), 1.0)
    return peak * 0.5 * (1.0 + np.cos(np.pi * rest))


def render_base_data(root: Path, samplerate: int) -> None:
    """Render the dataset `root` names (pop4-, techhouse5-, chorales-...) with the base's own seeds."""
    from audiolora.data.render import render_dataset

    recipe = next((r for r in RECIPES if root.name.startswith(r)), None)
    if recipe is None:
        raise SystemExit(f"{root}: not found, and its name starts with none of {list(RECIPES)}")
    tracks, seed = RECIPES[recipe]
    render_dataset(
        recipe,
        root,
        tracks,
        seed=seed,
        splits=(0.85, 0.05, 0.10),
        samplerate=samplerate,
        seconds=12.0,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", nargs="+", default=["data/pop4-22k", "data/techhouse5-22k", "data/chorales-22k"]
    )
    parser.add_argument("--minutes", type=float, default=40.0, help="wall-clock training budget")
    parser.add_argument("--max-steps", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-3, help="peak; cosine over --minutes")
    parser.add_argument("--warmup", type=float, default=0.03, help="share of --minutes")
    parser.add_argument("--channels", type=int, default=MODEL_KWARGS["channels"])
    parser.add_argument("--out", type=Path, default=ASSETS, help="folder of the two files")
    parser.add_argument(
        "--init",
        type=Path,
        help="continue from this folder's htdemucs_mini.safetensors (same model size); its"
        " htdemucs_mini.json training record is kept under 'previous'",
    )
    parser.add_argument("--seed", type=int, default=0)
    # 1 thread trains faster than 2 on a machine whose cores are shared (no spinning on a busy core)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    MODEL_KWARGS["channels"] = args.channels
    sr = MODEL_KWARGS["samplerate"]
    train, test = [], {}
    for root in map(Path, args.data):
        if not (root / "train").is_dir():
            render_base_data(root, sr)
        train += load_split(root, "train", sr)
        test[root.name] = load_split(root, "test", sr)
    print(f"{len(train)} train tracks, {sum(map(len, test.values()))} test tracks", flush=True)

    from demucs.htdemucs import HTDemucs

    model = HTDemucs(**MODEL_KWARGS)
    previous = None
    if args.init is not None:
        from safetensors.torch import load_file

        model.load_state_dict(load_file(args.init / "htdemucs_mini.safetensors"))
        record = json.loads((args.init / "htdemucs_mini.json").read_text())
        previous = {k: record[k] for k in ("train", "test_sdr_mdx_db", "previous") if k in record}
        print(f"continuing from {args.init} ({record['train']['steps']} steps)", flush=True)
    params = sum(p.numel() for p in model.parameters())
    print(f"HTDemucs {params:,} parameters", flush=True)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.999))
    gen = torch.Generator().manual_seed(args.seed)
    length = int(MODEL_KWARGS["segment"] * sr)
    has = stems_present(train)
    start = time.time()
    budget = args.minutes * 60
    step = 0
    ema = None
    model.train()
    while step < args.max_steps and time.time() - start < budget:
        for group in opt.param_groups:
            group["lr"] = scheduled_lr(args.lr, (time.time() - start) / budget, args.warmup)
        stems = remix_batch(train, args.batch, length, gen, has)
        mix = stems.sum(1)
        est = model(mix)
        loss = torch.nn.functional.l1_loss(est, stems)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        step += 1
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        if step % 25 == 0:
            el = time.time() - start
            print(
                f"step {step} loss {ema:.4f} {el / step:.2f} s/step elapsed {el / 60:.1f} min",
                flush=True,
            )
        if step % 200 == 0:  # interim weights (no test figures yet), so a long run is usable early
            model.segment = MODEL_KWARGS["segment"]
            interim = {"parameters": params, "train": {"steps": step, "interim": True}}
            save(model, {**interim, **({"previous": previous} if previous else {})}, args.out)
    minutes = (time.time() - start) / 60
    model.segment = MODEL_KWARGS["segment"]  # a training forward overwrites it (demucs quirk)
    scores = {name: evaluate(model, tracks) for name, tracks in test.items()}
    print("test SDR (MDX new, dB):", json.dumps(scores), flush=True)
    save(
        model,
        {
            "parameters": params,
            "train": {
                "steps": step,
                "batch": args.batch,
                "lr": args.lr,
                "schedule": f"warmup {args.warmup:g} of the budget, then cosine",
                "minutes": round(minutes, 1),
                "threads": args.threads,
                "data": args.data,
                "train_tracks": len(train),
                "coherent_share": COHERENT_SHARE,
                "init": "previous" if previous else "random",
            },
            "test_sdr_mdx_db": {
                name: {k: round(v, 2) for k, v in per.items()} for name, per in scores.items()
            },
            "test_tracks": {name: len(tracks) for name, tracks in test.items()},
            **({"previous": previous} if previous else {}),
        },
        args.out,
    )
    print(f"saved {args.out / 'htdemucs_mini.safetensors'}", flush=True)


if __name__ == "__main__":
    main()
