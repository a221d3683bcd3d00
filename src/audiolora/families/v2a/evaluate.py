"""Base vs adapted generation on held-out clips: WAVs, onset F1 against the visual events, sync
offset, log-mel distance to the real clip (through the codec) and a Fréchet distance over log-mel
frames. Loads the frozen codec (decoder) once; training itself never does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...audio import write_audio
from .features import load_codec
from .metrics import frechet_distance, log_mel, log_mel_distance, onset_f1, sync_offset_ms
from .sampling import adapter_off, sample_latents


@torch.no_grad()
def decode(codec, latents: torch.Tensor) -> np.ndarray:
    """[T, C] latents -> mono float32 audio."""
    audio = codec.decode(latents.T[None].float()).sample[0]
    return audio.mean(0).cpu().numpy()


def generation_report(family, model, held, run_dir: Path) -> dict[str, Any]:
    """Generate every held-out clip (up to v2a.eval_clips) with the base and the adapted model."""
    opts, manifest = family.opts, family.manifest()
    codec = load_codec(opts.codec or manifest["key"]["codec"])
    sr = int(manifest["samplerate"])
    rows: dict[str, dict[str, list]] = {w: {} for w in ("base", "adapted")}
    mels: dict[str, list] = {"base": [], "adapted": [], "real": []}
    for i in range(min(len(held), opts.eval_clips)):
        entry = held.entries[i]
        batch = {k: v.to(model.device) for k, v in family.collate([held[i]]).items()}
        real = decode(codec, batch["latents"][0])
        mels["real"].append(log_mel(real, sr))
        for which in ("base", "adapted"):
            if which == "base":
                with adapter_off(model):
                    z = sample_latents(
                        model, batch, opts.sample_steps, opts.eval_seed + i, opts.guidance
                    )
            else:
                z = sample_latents(
                    model, batch, opts.sample_steps, opts.eval_seed + i, opts.guidance
                )
            audio = decode(codec, z[0])
            write_audio(run_dir / "samples" / which / f"{entry['id']}.wav", audio[None], sr)
            r = rows[which]
            r.setdefault("log_mel_distance", []).append(log_mel_distance(audio, real, sr))
            mels[which].append(log_mel(audio, sr))
            if entry.get("events") is not None:
                r.setdefault("onset_f1", []).append(
                    onset_f1(entry["events"], audio, sr, opts.onset_tolerance)
                )
                off = sync_offset_ms(entry["events"], audio, sr)
                if off is not None:
                    r.setdefault("sync_offset_ms", []).append(abs(off))
    table: dict[str, dict[str, float]] = {}
    for which, r in rows.items():
        for metric, values in r.items():
            table.setdefault(metric, {})[which] = float(np.mean(values))
        fd = frechet_distance(np.concatenate(mels[which]), np.concatenate(mels["real"]))
        table.setdefault("frechet_distance", {})[which] = fd
    return {"table": table, "samples": str(run_dir / "samples")}
