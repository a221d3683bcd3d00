"""Train `htdemucs-mini`, the small pretrained 4-stem HT-Demucs base that audiolora ships.

The released htdemucs weights cannot be downloaded everywhere, so the project trains its own small
base (drums, bass, other, vocals) on renders, on CPU, in about an hour:

    OMP_NUM_THREADS=1 python scripts/train_mini_base.py --minutes 70

`--data` lists stem-folder datasets (train/ and test/ with one folder per track). A track's drums
are its drums.wav, or the sum of kick.wav and hihat.wav (techhouse5), so that the base, like
htdemucs, has heard electronic drums as well as acoustic ones; bass, other and vocals map one to
one. A `--data` folder that does not exist yet is rendered first from the recipe its name starts
with (pop4: 96 tracks, techhouse5: 48 tracks, 12 s at 22.05 kHz, splits 0.85/0.05/0.10, seeds
that no demo uses). The learning rate warms up, then follows a cosine over the time budget.
Weights go to src/audiolora/assets/htdemucs_mini.safetensors in demucs's own safetensors format
(class and kwargs as JSON metadata, loadable with `demucs.hf.load_safetensors_model`), the config
and per-dataset test SDR to htdemucs_mini.json.
"""

from __future__ import annotations

import argparse
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


# A base source found under other names: the sum of these files when its own file is missing.
ALIASES = {"drums": ("kick", "hihat")}
RECIPES = {"pop4": (96, 328), "techhouse5": (48, 4242)}  # tracks, render seed


def _read(path: Path, samplerate: int) -> np.ndarray:
    audio, sr = sf.read(path, dtype="float32", always_2d=True)
    if sr != samplerate:
        audio = soxr.resample(audio, sr, samplerate)
    if audio.shape[1] == 1:
        audio = np.repeat(audio, 2, 1)
    return audio.T


def load_split(root: Path, split: str, samplerate: int) -> list[torch.Tensor]:
    """Each track of a split as a float32 tensor [S, C, T] at `samplerate`."""
    tracks = []
    for folder in sorted(p for p in (root / split).iterdir() if p.is_dir()):
        stems = []
        for name in SOURCES:
            parts = [name] if (folder / f"{name}.wav").is_file() else ALIASES.get(name, (name,))
            audio = [_read(folder / f"{part}.wav", samplerate) for part in parts]
            length = min(a.shape[-1] for a in audio)
            stems.append(torch.from_numpy(np.ascontiguousarray(sum(a[:, :length] for a in audio))))
        length = min(s.shape[-1] for s in stems)
        tracks.append(torch.stack([s[:, :length] for s in stems]))
    if not tracks:
        raise SystemExit(f"{root / split}: no track folders found")
    return tracks


def remix_batch(
    tracks: list[torch.Tensor], batch: int, length: int, gen: torch.Generator
) -> torch.Tensor:
    """Demucs-style remix: every stem from a random track and offset, random gain, swap, polarity."""
    out = torch.empty(batch, len(SOURCES), 2, length)
    for b in range(batch):
        for s in range(len(SOURCES)):
            track = tracks[int(torch.randint(len(tracks), (1,), generator=gen))]
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
                scores[name].append(sdr_mdx(track[i], est[i]))
    return {name: float(np.mean(v)) for name, v in scores.items()}


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
    """Render the dataset `root` names (pop4-... or techhouse5-...) with the base's own seeds."""
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
    parser.add_argument("--data", nargs="+", default=["data/pop4-22k", "data/techhouse5-22k"])
    parser.add_argument("--minutes", type=float, default=40.0, help="wall-clock training budget")
    parser.add_argument("--max-steps", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-3, help="peak; cosine over --minutes")
    parser.add_argument("--warmup", type=float, default=0.03, help="share of --minutes")
    parser.add_argument("--channels", type=int, default=MODEL_KWARGS["channels"])
    parser.add_argument("--out", type=Path, default=ASSETS, help="folder of the two files")
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
    params = sum(p.numel() for p in model.parameters())
    print(f"HTDemucs {params:,} parameters", flush=True)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.999))
    gen = torch.Generator().manual_seed(args.seed)
    length = int(MODEL_KWARGS["segment"] * sr)
    start = time.time()
    budget = args.minutes * 60
    step = 0
    ema = None
    model.train()
    while step < args.max_steps and time.time() - start < budget:
        for group in opt.param_groups:
            group["lr"] = scheduled_lr(args.lr, (time.time() - start) / budget, args.warmup)
        stems = remix_batch(train, args.batch, length, gen)
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
            save(model, {"parameters": params, "train": {"steps": step, "interim": True}}, args.out)
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
            },
            "test_sdr_mdx_db": {
                name: {k: round(v, 2) for k, v in per.items()} for name, per in scores.items()
            },
            "test_tracks": {name: len(tracks) for name, tracks in test.items()},
        },
        args.out,
    )
    print(f"saved {args.out / 'htdemucs_mini.safetensors'}", flush=True)


if __name__ == "__main__":
    main()
