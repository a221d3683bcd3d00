"""Train `v2a-mini`, the small pretrained video-to-audio base that audiolora ships.

No MMAudio or CLIP weights can be downloaded everywhere, so the project pretrains its own tiny
MMAudio-style DiT (`families/v2a/model.py`) on synthetic videos, on one CPU thread:

    OMP_NUM_THREADS=1 python scripts/train_v2a_base.py --minutes 30

1. renders `--videos` synthetic videos of the `drums` kit (thump, snare, bell; `data/render/
   video.py`) into `--work` (skipped when already there); the `wood` kit is left for adaptation;
2. sets up the frozen encoders, saved with `save_pretrained` inside the bundle so they load the
   normal way: the fixed `MelCodec` (log-mel bands at 62.5 Hz, hop 256 at 16 kHz, Griffin-Lim to
   decode) with its per-band statistics measured on the pretraining audio, and random-init tiny
   CLIP vision / CLIP text encoders (`families/v2a/tiny.py`): no CLIP can be downloaded here, so
   the picture's identity reaches the DiT through them only as a fixed random projection, and the
   motion-energy sync features carry the timing;
3. splits the videos into 2 s clips and builds the family's own feature cache (`build_cache`),
   then trains every DiT weight (full fine-tune) with the family's flow-matching loss
   (`sampling.batch_loss`, CFG dropout) for `--minutes`;
4. samples a few held-out clips and scores them like `v2a run` does (onset F1, sync offset,
   log-mel distance against the real clip), and saves the DiT with `save_pretrained` next to its
   encoders in src/audiolora/assets/v2a_mini/ (written to a temp folder, then moved in), with the
   command and figures in training.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from audiolora.data.render.video import VideoSpec, render_videos
from audiolora.data.video import read_clip_audio, split_videos
from audiolora.families.generation.codecs import MelCodec
from audiolora.families.v2a.evaluate import decode
from audiolora.families.v2a.features import CacheSettings, build_cache, load_clip_features
from audiolora.families.v2a.metrics import log_mel_distance, onset_f1, sync_offset_ms
from audiolora.families.v2a.model import V2ADiT
from audiolora.families.v2a.sampling import batch_loss, sample_latents
from audiolora.families.v2a.tiny import save_tiny_clip_text, save_tiny_clip_vision

ASSETS = Path(__file__).resolve().parents[1] / "src" / "audiolora" / "assets"
SAMPLERATE = 16000
HOP = 256
N_MELS = 64
SPEC = VideoSpec(seconds=4.0, fps=16, size=64, samplerate=SAMPLERATE, kit="drums")
CLIP_SECONDS, OVERLAP = 2.0, 0.5
ENCODER_DIM = 32  # tiny CLIP vision / text width
# Sized for one shared CPU thread: a step of 16 clips (125 latent + 16 CLIP + 16 text tokens)
# takes well under a second, and the weights stay a few MB.
MODEL_KWARGS = dict(hidden_dim=128, num_heads=4, depth=3, fused_depth=2, mlp_ratio=2.0)


def build_encoders(folder: Path, videos: list[Path]) -> dict[str, str]:
    """Save the frozen codec (statistics from `videos`' audio) and tiny CLIP encoders in `folder`."""
    codec = MelCodec(sampling_rate=SAMPLERATE, n_fft=1024, downsampling_ratios=[HOP], n_mels=N_MELS)
    waves = [torch.from_numpy(read_clip_audio(v, 0.0, SPEC.seconds, SAMPLERATE, 1)) for v in videos]
    codec.set_statistics(waves)
    codec.save_pretrained(str(folder / "codec"))
    save_tiny_clip_vision(folder / "clip_model", dim=ENCODER_DIM, seed=1)
    save_tiny_clip_text(folder / "text_model", dim=ENCODER_DIM, seed=2)
    return {k: str(folder / k) for k in ("codec", "clip_model", "text_model")}


def load_split(cache: Path, manifest: dict, split: str) -> list[dict[str, torch.Tensor]]:
    return [load_clip_features(cache, c["id"]) for c in manifest["clips"] if c["split"] == split]


def stack(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


@torch.no_grad()
def held_loss(model: V2ADiT, held: list[dict], seed: int = 1234) -> float:
    """Flow-matching loss on fixed noise and noise levels per clip (as the family evaluates)."""
    model.eval()
    losses = []
    for i, item in enumerate(held):
        g = torch.Generator().manual_seed(seed + i)
        losses.append(float(batch_loss(model, stack([item]), g)))
    model.train()
    return float(np.mean(losses))


@torch.no_grad()
def score_samples(
    model: V2ADiT, codec, held: list[dict], entries: list[dict], steps: int
) -> dict[str, float]:
    """Generate held-out clips and score them as `v2a run` does (mean over clips)."""
    model.eval()
    rows: dict[str, list[float]] = {"onset_f1": [], "sync_offset_ms": [], "log_mel_distance": []}
    for i, (item, entry) in enumerate(zip(held, entries, strict=True)):
        batch = stack([item])
        audio = decode(codec, sample_latents(model, batch, steps, 1234 + i)[0])
        real = decode(codec, batch["latents"][0])
        rows["log_mel_distance"].append(log_mel_distance(audio, real, SAMPLERATE))
        rows["onset_f1"].append(onset_f1(entry["events"], audio, SAMPLERATE, 0.07))
        off = sync_offset_ms(entry["events"], audio, SAMPLERATE)
        if off is not None:
            rows["sync_offset_ms"].append(abs(off))
    return {k: float(np.mean(v)) for k, v in rows.items() if v}


def save_bundle(model: V2ADiT, staging: Path, out: Path, record: dict) -> None:
    """DiT + encoders + training.json into `out`, atomically (staging folder, then os.replace)."""
    model.save_pretrained(str(staging), safe_serialization=True)
    (staging / "training.json").write_text(json.dumps(record, indent=1) + "\n")
    for f in staging.rglob("*"):
        os.chmod(f, 0o755 if f.is_dir() else 0o644)
    os.chmod(staging, 0o755)
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(staging, out)
    if old is not None:
        shutil.rmtree(old)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ASSETS / "v2a_mini")
    ap.add_argument("--work", type=Path, default=Path("runs/v2a_mini_pretrain"))
    ap.add_argument("--videos", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--max-steps", type=int, default=0, help="Stop here too (0: time only).")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--eval-clips", type=int, default=6)
    ap.add_argument("--sample-steps", type=int, default=16)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    start_all = time.time()

    videos_dir = args.work / "videos"
    videos = sorted(videos_dir.glob("sync_*.mp4"))
    if len(videos) != args.videos:
        videos = render_videos(videos_dir, args.videos, args.seed, SPEC)
    print(f"{len(videos)} videos of kit {SPEC.kit} in {videos_dir}", flush=True)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{args.out.name}.", dir=args.out.parent))
    try:
        encoders = build_encoders(staging, videos)
        clips, skipped = split_videos(videos_dir, CLIP_SECONDS, OVERLAP, holdout=0.125)
        assert not skipped, skipped
        cache = args.work / "cache"
        if cache.exists():
            shutil.rmtree(cache)  # the encoders are new (a temp folder): nothing to reuse
        t0 = time.time()
        manifest, failed = build_cache(clips, videos_dir, cache, CacheSettings(**encoders))
        assert not failed, failed
        cache_seconds = time.time() - t0
        train = load_split(cache, manifest, "train")
        held = load_split(cache, manifest, "test")
        held_entries = [c for c in manifest["clips"] if c["split"] == "test"]
        print(f"cache: {len(train)} train / {len(held)} held-out clips ({cache_seconds:.0f} s)")

        dims = manifest["dims"]
        model = V2ADiT(
            **dims,
            **MODEL_KWARGS,
            latent_rate=manifest["latent_rate"],
            clip_rate=CacheSettings(**encoders).clip_fps,
        )
        params = sum(p.numel() for p in model.parameters())
        print(f"V2ADiT: {params / 1e6:.2f} M parameters, {json.dumps(MODEL_KWARGS)}", flush=True)
        loss_before = held_loss(model, held)
        opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
        budget = args.minutes * 60
        warmup = 100
        model.train()
        data = stack(train)
        g = torch.Generator().manual_seed(args.seed)
        step, t0, curve, recent = 0, time.time(), [], []
        while time.time() - t0 < budget and not (args.max_steps and step >= args.max_steps):
            frac = min(1.0, (time.time() - t0) / budget)
            lr = args.lr * min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * frac))
            for group in opt.param_groups:
                group["lr"] = lr
            pick = torch.randint(len(train), (args.batch,), generator=g)
            batch = {k: v[pick] for k, v in data.items()}
            loss = batch_loss(model, batch, None, cfg_dropout=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            recent.append(loss.item())
            step += 1
            if step % 100 == 0:
                entry = {
                    "step": step,
                    "minutes": round((time.time() - t0) / 60, 2),
                    "train_loss": float(np.mean(recent)),
                    "held_loss": held_loss(model, held),
                }
                curve.append(entry)
                recent = []
                print(json.dumps(entry), flush=True)
        train_minutes = (time.time() - t0) / 60
        loss_after = held_loss(model, held)
        print(f"held-out loss {loss_before:.4f} -> {loss_after:.4f} in {step} steps", flush=True)

        from audiolora.families.v2a.features import load_codec

        n = min(args.eval_clips, len(held))
        scores = score_samples(
            model, load_codec(encoders["codec"]), held[:n], held_entries[:n], args.sample_steps
        )
        print(f"samples of {n} held-out clips: {json.dumps(scores)}", flush=True)

        record = {
            "command": "OMP_NUM_THREADS=1 python scripts/train_v2a_base.py "
            + " ".join(sys.argv[1:]),
            "model": {**MODEL_KWARGS, **dims, "parameters": params},
            "encoders": {
                "codec": f"MelCodec (fixed): {N_MELS} log-mel bands, hop {HOP} at {SAMPLERATE} Hz, "
                "per-band statistics of the pretraining audio; Griffin-Lim decoder",
                "clip_model": f"CLIPVisionModelWithProjection, random init (width {ENCODER_DIM}): "
                "no CLIP weights can be downloaded here",
                "text_model": f"CLIPTextModelWithProjection, random init (width {ENCODER_DIM}), "
                "character tokenizer",
                "sync": "motion energy (frame differences, 4x4 grid + whole picture) at 24 Hz: "
                "carries the timing",
            },
            "data": {
                "renderer": "audiolora.data.render.video",
                "kit": SPEC.kit,
                "videos": len(videos),
                "seconds_per_video": SPEC.seconds,
                "fps": SPEC.fps,
                "size": SPEC.size,
                "seed": args.seed,
                "clip_seconds": CLIP_SECONDS,
                "overlap": OVERLAP,
                "train_clips": len(train),
                "held_out_clips": len(held),
            },
            "training": {
                "objective": "flow matching (sampling.batch_loss), cfg_dropout 0.1, full fine-tune",
                "optimizer": f"AdamW lr {args.lr} (warmup {warmup}, cosine over the time budget), "
                "weight decay 0.01, grad clip 1.0",
                "batch": args.batch,
                "steps": step,
                "threads": 1,
                "minutes": round(train_minutes, 2),
                "cache_minutes": round(cache_seconds / 60, 2),
                "total_minutes": round((time.time() - start_all) / 60, 2),
                "held_loss_before": loss_before,
                "held_loss_after": loss_after,
                "curve": curve,
            },
            "samples": {"clips": n, "euler_steps": args.sample_steps, **scores},
        }
        save_bundle(model, staging, args.out, record)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    size = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(f"saved {args.out} ({size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
