"""Train `gen-mini`, the small pretrained text-to-music base that audiolora ships.

No generation weights can be downloaded everywhere, so the project pretrains its own tiny ACE-Step
pipeline (the stock diffusers classes, built by `builders.ace_step_pipeline`) on the western render
recipes only (pop4, techhouse5, chorales), on CPU:

    OMP_NUM_THREADS=1 python scripts/train_gen_mini.py --minutes 60

1. renders the three recipes with captions into `--data` (skipped when already there);
2. sets up the codec. `--codec mel` (the default): the fixed `MelCodec` (80 log-mel bands at
   62.5 Hz, Griffin-Lim to decode), whose per-band mean and spread are measured on the train clips.
   `--codec oobleck`: trains an AutoencoderOobleck (L1 + multi-resolution STFT with auraloss, a small
   KL) and folds a latent scale into it; on 2 CPU cores it reached only 1.2 dB SNR in 15 minutes and
   lost the style of what it encoded, which is why the bundled base uses the mel codec. Either way
   the encoded silence becomes the condition encoder's `silence_latent`;
3. encodes every clip once (VAE latents; captions through the frozen random-init character-level
   Qwen3 text encoder and condition encoder, exactly as `families/generation/cache.py` does) and
   trains the DiT with the family's flow-matching objective (logit-normal sigmas, CFG dropout to
   the learned null embedding);
4. saves the pipeline with `save_pretrained` (safetensors) to src/audiolora/assets/gen_mini/ and
   the command and figures to gen_mini/training.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

from audiolora.audio import read_audio
from audiolora.data.captions import Caption, read_caption_csv
from audiolora.data.render.dataset import render_dataset
from audiolora.families.generation import ace_step, builders
from audiolora.families.generation.objective import (
    cfg_dropout_mask,
    flow_matching_loss,
    noisy_latents_and_target,
    sample_sigmas,
)
from audiolora.metrics.generation import log_mel_distance

ASSETS = Path(__file__).resolve().parents[1] / "src" / "audiolora" / "assets"
RECIPES = ("pop4", "techhouse5", "chorales")
SAMPLERATE = 16000
# Sized for one shared CPU thread: a VAE step (4 x 0.5 s) and a DiT step (8 x 4 s of latents) take
# about a second; 16 latent channels at 62.5 Hz (hop 4*4*4*4 = 256) = 16x compression of 16 kHz
# mono. Stride 4 first keeps the wide encoder/decoder blocks off the full sample rate.
MODEL_KWARGS = dict(
    hidden=128,
    layers=4,
    heads=4,
    head_dim=32,
    acoustic_dim=16,  # 80 (mel bands) with --codec mel
    text_hidden=64,
    text_layers=2,
    vae_hidden=24,
    downsampling=(4, 4, 4, 4),
    samplerate=SAMPLERATE,
    audio_channels=1,
    is_turbo=False,
)
WINDOW_SECONDS = 4.0


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------- data


def render_western(data: Path, tracks: int, seconds: float) -> list[Path]:
    roots = []
    for recipe in RECIPES:
        root = data / f"gen-mini-{recipe}"
        if not (root / "manifest.json").is_file():
            log(f"rendering {tracks} {recipe} tracks of {seconds:g} s -> {root}")
            render_dataset(
                recipe,
                root,
                tracks,
                seed=0,
                splits=(0.9, 0.05, 0.05),
                samplerate=SAMPLERATE,
                seconds=seconds,
            )
        roots.append(root)
    return roots


def load_clips(roots: list[Path]) -> dict[str, list[tuple[np.ndarray, Caption]]]:
    """(mono waveform, caption) of every mixture by split (`test` = held out of both stages)."""
    out: dict[str, list] = {"train": [], "test": []}
    for root in roots:
        for name, meta in sorted(read_caption_csv(root / "captions.csv").items()):
            path = root / name
            wave, _ = read_audio(path, samplerate=SAMPLERATE, channels=1)
            first = path.resolve().relative_to(root.resolve()).parts[0]
            split = "test" if first == "test" else "train"
            out[split].append((wave.astype(np.float32), meta))
    return out


# --------------------------------------------------------------------------- VAE


def vae_batch(waves: list[np.ndarray], batch: int, length: int, gen: torch.Generator):
    out = torch.empty(batch, 1, length)
    for b in range(batch):
        w = waves[int(torch.randint(len(waves), (1,), generator=gen))]
        start = int(torch.randint(max(1, w.shape[-1] - length), (1,), generator=gen))
        out[b] = torch.from_numpy(w[:, start : start + length])
        out[b] *= float(10 ** (torch.empty(1).uniform_(-0.3, 0.1, generator=gen)))  # gain jitter
    return out


def reconstruct(vae, wave: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        x = torch.from_numpy(wave)[None]
        z = vae.encode(x).latent_dist.mean
        y = vae.decode(z).sample[0].numpy()
    return y[:, : wave.shape[-1]]


def vae_figures(vae, waves: list[np.ndarray]) -> dict[str, float]:
    snr, lmd = [], []
    for w in waves:
        w = w[:, : 4 * SAMPLERATE]
        y = reconstruct(vae, w)
        n = min(w.shape[-1], y.shape[-1])
        err = np.sum((w[:, :n] - y[:, :n]) ** 2)
        snr.append(10 * math.log10(np.sum(w[:, :n] ** 2) / max(err, 1e-12)))
        lmd.append(log_mel_distance(w[:, :n], y[:, :n], SAMPLERATE))
    return {"snr_db": float(np.mean(snr)), "log_mel_distance": float(np.mean(lmd))}


def train_vae(vae, train, test, minutes: float, seed: int) -> dict:
    import auraloss

    stft = auraloss.freq.MultiResolutionSTFTLoss(
        fft_sizes=[2048, 1024, 512, 256],
        hop_sizes=[512, 256, 128, 64],
        win_lengths=[2048, 1024, 512, 256],
    )
    opt = torch.optim.AdamW(vae.parameters(), lr=1e-3, betas=(0.8, 0.99))
    gen = torch.Generator().manual_seed(seed)
    vae.train()
    deadline = time.monotonic() + minutes * 60
    step, history, t0 = 0, [], time.monotonic()
    while time.monotonic() < deadline:
        x = vae_batch(train, 4, 8192, gen)
        post = vae.encode(x).latent_dist
        # Decoding the mean, not a sample: with a few hundred steps, sampling noise at the
        # initial posterior spread drowns the signal and the loss stays flat; the KL term still
        # keeps the mean near unit scale.
        y = vae.decode(post.mean).sample[..., : x.shape[-1]]
        kl = post.kl().mean() / post.mean.shape[1]
        l1 = (y - x).abs().mean()
        loss = l1 + stft(y, x) + 1e-4 * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 25 == 0:
            history.append({"step": step, "loss": float(loss), "l1": float(l1), "kl": float(kl)})
            log(f"vae step {step} loss {float(loss):.4f} l1 {float(l1):.4f} kl {float(kl):.3f}")
    vae.eval()
    figures = vae_figures(vae, test)
    log(f"vae: {step} steps, test {figures}")
    return {"steps": step, "seconds": time.monotonic() - t0, "history": history, "test": figures}


def fold_latent_scale(vae, waves: list[np.ndarray]) -> float:
    """Divide the posterior mean by its spread inside the encoder and multiply it back inside the
    decoder (weight-norm gains), so the stock pipeline's diffusion runs on unit-spread latents."""
    with torch.no_grad():
        z = torch.cat(
            [vae.encode(torch.from_numpy(w)[None]).latent_dist.mean for w in waves[:32]], -1
        )
        scale = float(z.std())
        d = vae.config.decoder_input_channels
        enc, dec = vae.encoder.conv2, vae.decoder.conv1
        enc.weight_g[:d] /= scale
        enc.bias[:d] /= scale
        dec.weight_g.mul_(scale)  # conv(s*x) = (s*W) x + b
    return scale


def set_silence_latent(pipe) -> None:
    with torch.no_grad():
        silence = torch.zeros(1, 1, 8 * SAMPLERATE)
        z = pipe.vae.encode(silence).latent_dist.mean[0].T  # [T, C]
        frame = z[z.shape[0] // 2]  # away from the padding at the edges
        buf = pipe.condition_encoder.silence_latent
        buf.copy_(frame.expand_as(buf[0])[None])


# --------------------------------------------------------------------------- DiT


def without_metadata(meta: Caption) -> Caption:
    return meta.model_copy(update={"bpm": None, "keyscale": None, "timesignature": None})


def encode_set(pipe, clips) -> list[dict[str, torch.Tensor]]:
    """Latents [T, C] and two conditions (with and without bpm/key/meter) per clip."""
    lps = pipe.latents_per_second
    out = []
    with torch.no_grad():
        for wave, meta in clips:
            latents = ace_step.encode_audio(pipe, torch.from_numpy(wave))
            conds = [
                ace_step.encode_condition(pipe, m, WINDOW_SECONDS, lps)["encoder_hidden_states"]
                for m in (meta, without_metadata(meta))
            ]
            out.append({"latents": latents, "conds": conds})
    return out


def dit_batch(encoded, batch: int, frames: int, gen: torch.Generator):
    xs, hs = [], []
    for _ in range(batch):
        item = encoded[int(torch.randint(len(encoded), (1,), generator=gen))]
        lat = item["latents"]
        start = int(torch.randint(max(1, lat.shape[0] - frames), (1,), generator=gen))
        xs.append(lat[start : start + frames])
        hs.append(item["conds"][int(torch.randint(2, (1,), generator=gen))])
    length = max(h.shape[0] for h in hs)
    hidden = torch.stack([torch.nn.functional.pad(h, (0, 0, 0, length - h.shape[0])) for h in hs])
    return torch.stack(xs), hidden


def dit_loss(pipe, x0, hidden, gen, cfg_dropout=0.1, fixed_sigma=None):
    b = x0.shape[0]
    noise = torch.randn(x0.shape, generator=gen)
    if fixed_sigma is None:
        sigma = sample_sigmas(b, gen)
        drop = cfg_dropout_mask(b, cfg_dropout, gen)
    else:
        sigma = torch.full((b,), fixed_sigma)
        drop = torch.zeros(b, dtype=torch.bool)
    null = pipe.condition_encoder.null_condition_emb.expand_as(hidden)
    hidden = torch.where(drop.view(-1, 1, 1), null, hidden)
    x_t, target = noisy_latents_and_target(x0, noise, sigma)
    silence = pipe.condition_encoder.silence_latent
    context = ace_step.context_latents(silence, b, x0.shape[1])
    return flow_matching_loss(
        ace_step.velocity(pipe.transformer, x_t, sigma, hidden, context), target
    )


def valid_loss(pipe, encoded, frames: int) -> float:
    gen = torch.Generator().manual_seed(7)
    losses = []
    with torch.no_grad():
        for i in range(0, len(encoded), 8):
            part = encoded[i : i + 8]
            x0 = torch.stack([e["latents"][:frames] for e in part])
            hidden = torch.stack([e["conds"][1] for e in part])
            for s in (0.2, 0.5, 0.8):
                losses.append(float(dit_loss(pipe, x0, hidden, gen, fixed_sigma=s)))
    return float(np.mean(losses))


def train_dit(pipe, train, test, minutes: float, seed: int, save) -> dict:
    frames = int(round(WINDOW_SECONDS * pipe.latents_per_second))
    model = pipe.transformer
    model.train()
    pipe.condition_encoder.null_condition_emb.requires_grad_(True)
    params = list(model.parameters()) + [pipe.condition_encoder.null_condition_emb]
    opt = torch.optim.AdamW(params, lr=5e-4, weight_decay=0.01)
    gen = torch.Generator().manual_seed(seed)
    t0 = time.monotonic()
    deadline = t0 + minutes * 60
    step, history, last_save = 0, [], t0
    initial = valid_loss(pipe, test, frames)
    log(f"dit: valid loss before training {initial:.4f}")
    while time.monotonic() < deadline:
        frac = (time.monotonic() - t0) / (minutes * 60)
        for group in opt.param_groups:  # warm-up then cosine, on wall time
            group["lr"] = 5e-4 * min(1.0, (step + 1) / 100) * 0.5 * (1 + math.cos(math.pi * frac))
        x0, hidden = dit_batch(train, 8, frames, gen)
        loss = dit_loss(pipe, x0, hidden, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        if step % 50 == 0:
            history.append({"step": step, "loss": float(loss)})
            log(f"dit step {step} loss {float(loss):.4f}")
        if time.monotonic() - last_save > 600:
            model.eval()
            save(pipe, {"dit_steps_so_far": step})
            model.train()
            last_save = time.monotonic()
    model.eval()
    final = valid_loss(pipe, test, frames)
    log(f"dit: {step} steps, valid loss {initial:.4f} -> {final:.4f}")
    return {
        "steps": step,
        "seconds": time.monotonic() - t0,
        "valid_loss_before": initial,
        "valid_loss_after": final,
        "history": history,
    }


# --------------------------------------------------------------------------- save


def save_pipeline(pipe, out: Path, record: dict) -> None:
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    pipe.save_pretrained(tmp, safe_serialization=True)
    (tmp / "training.json").write_text(json.dumps(record, indent=1))
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    log(f"saved {out} ({size / 1e6:.1f} MB)")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="data", help="where the western renders go")
    ap.add_argument("--out", default=str(ASSETS / "gen_mini"))
    ap.add_argument("--minutes", type=float, default=60.0, help="training time, both stages")
    ap.add_argument("--codec", choices=("mel", "oobleck"), default="mel")
    ap.add_argument("--vae-share", type=float, default=0.4, help="share of --minutes for the VAE")
    ap.add_argument("--hidden", type=int, default=192, help="DiT width (with --codec mel)")
    ap.add_argument("--layers", type=int, default=6, help="DiT depth (with --codec mel)")
    ap.add_argument("--tracks", type=int, default=40, help="tracks per recipe")
    ap.add_argument("--seconds", type=float, default=12.0, help="seconds per track")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.monotonic()
    record: dict = {"command": " ".join(["python", "scripts/train_gen_mini.py", *sys.argv[1:]])}
    kwargs = dict(MODEL_KWARGS)
    if args.codec == "mel":
        kwargs.update(
            acoustic_dim=80, hidden=args.hidden, layers=args.layers, heads=args.hidden // 32
        )
    record["model"] = {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}
    record["model"]["codec"] = args.codec
    clips = load_clips(render_western(Path(args.data), args.tracks, args.seconds))
    record["data"] = {
        "recipes": list(RECIPES),
        "train_clips": len(clips["train"]),
        "test_clips": len(clips["test"]),
        "seconds_per_clip": args.seconds,
    }
    log(f"{len(clips['train'])} train / {len(clips['test'])} test clips")
    pipe = builders.ace_step_pipeline(seed=args.seed, codec=args.codec, **kwargs)
    for part in (pipe.text_encoder, pipe.condition_encoder):
        part.requires_grad_(False).eval()
    train_waves = [w for w, _ in clips["train"]]
    test_waves = [w for w, _ in clips["test"]]
    if args.codec == "mel":
        args.vae_share = 0.0
        pipe.vae.set_statistics([torch.from_numpy(w) for w in train_waves])
        record["vae"] = {"codec": "MelCodec (fixed)", "test": vae_figures(pipe.vae, test_waves)}
        log(f"mel codec: test {record['vae']['test']}")
    else:
        record["vae"] = train_vae(
            pipe.vae, train_waves, test_waves, args.minutes * args.vae_share, args.seed
        )
        record["vae"]["latent_scale"] = fold_latent_scale(pipe.vae, train_waves)
    pipe.vae.requires_grad_(False)
    set_silence_latent(pipe)
    out = Path(args.out)
    save_pipeline(pipe, out, {**record, "partial": "vae only"})

    def save(p, extra):
        save_pipeline(p, out, {**record, **extra, "partial": True})

    t = time.monotonic()
    train_enc, test_enc = encode_set(pipe, clips["train"]), encode_set(pipe, clips["test"])
    record["encode_seconds"] = time.monotonic() - t
    dit_minutes = args.minutes * (1 - args.vae_share) - record["encode_seconds"] / 60
    record["dit"] = train_dit(pipe, train_enc, test_enc, dit_minutes, args.seed, save)
    record["total_minutes"] = (time.monotonic() - started) / 60
    record["threads"] = args.threads
    save_pipeline(pipe, out, record)


if __name__ == "__main__":
    main()
