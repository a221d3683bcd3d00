"""Samples while training: K fixed-seed prompts through the DiT being trained, with the model's own
sampler (diffusers' FlowMatchEulerDiscreteScheduler at the variant's shift) at few steps.

The conditions come from the cache (the first held-out or training clips) or from
`generation.sample_prompts`, encoded once before training starts; the VAE is loaded only for the
moment it decodes the latents, so training never holds it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from . import ace_step
from .objective import shift_sigmas


def sample_conditions(family) -> list[tuple[str, dict[str, torch.Tensor]]]:
    """(label, condition) for each sample prompt: custom prompts encoded once, else cached clips."""
    options, cache = family.options, family.cache()
    if not options.sample_prompts:
        pool = family.split_indices("valid") or family.split_indices("train")
        return [(cache.entries[i].caption, cache.condition(i)) for i in pool[:2]]
    key = hashlib.sha256(json.dumps(options.sample_prompts).encode()).hexdigest()[:12]
    path = cache.folder / f"prompts-{key}.safetensors"
    if not path.is_file():
        from safetensors.torch import save_file

        from ...data.captions import Caption
        from .bases import load_pipeline

        pipe = load_pipeline(family.config.model.name, skip=("vae", "transformer"))
        lps = float(cache.shared["latents_per_second"])
        tensors = {}
        with torch.no_grad():
            for n, prompt in enumerate(options.sample_prompts):
                cond = ace_step.encode_condition(
                    pipe, Caption(caption=prompt), options.sample_seconds, lps
                )
                tensors.update({f"{n}.{k}": v for k, v in cond.items()})
        del pipe
        save_file(tensors, str(path))
    from safetensors.torch import load_file

    stored = load_file(str(path))
    return [
        (p, {"encoder_hidden_states": stored[f"{n}.encoder_hidden_states"]})
        for n, p in enumerate(options.sample_prompts)
    ]


def sample_latents(family, model, hidden: torch.Tensor, frames: int, steps: int, seed: int):
    """Euler flow-matching sampling of one latent [1, frames, C] with the trained DiT."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    shift = family.train_shift()
    sigmas = shift_sigmas(torch.linspace(1.0, 0.0, steps + 1)[:-1], shift)
    scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1, shift=1.0)
    scheduler.set_timesteps(sigmas=sigmas.tolist())
    channels = family.cache().latents(0).shape[1]
    x = torch.randn(1, frames, channels, generator=torch.Generator().manual_seed(seed))
    context = ace_step.context_latents(family.silence.to(x), 1, frames)
    hidden = hidden[None].to(x)
    with torch.no_grad():
        for t in scheduler.timesteps:
            v = ace_step.velocity(model, x, t.reshape(1).to(x), hidden, context)
            x = scheduler.step(v, t, x, return_dict=False)[0]
    return x


def write_samples(family, model, step: int, run_dir: Path, log) -> list[Path]:
    """Generate the sample prompts, save WAV + spectrogram under samples/step_<N>/, log audio."""
    from ...audio import write_audio
    from .codecs import load_codec
    from .report import save_spectrogram

    options = family.options
    lps = float(family.cache().shared["latents_per_second"])
    frames = max(2, int(round(options.sample_seconds * lps)))
    latents = [
        sample_latents(
            family,
            model,
            cond["encoder_hidden_states"],
            frames,
            options.sample_steps,
            options.eval_seed + n,
        )
        for n, (_, cond) in enumerate(sample_conditions(family))
    ]
    vae = load_codec(family.location)
    sr = int(vae.config.sampling_rate)
    folder = run_dir / "samples" / f"step_{step}"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    with torch.no_grad():
        for n, lat in enumerate(latents):
            audio = vae.decode(lat.transpose(1, 2)).sample[0].float().numpy()
            audio = audio / max(1.0, float(np.abs(audio).max()))
            path = write_audio(folder / f"{n:02d}.wav", audio, sr)
            save_spectrogram(audio, sr, folder / f"{n:02d}.png", f"step {step}")
            if getattr(log, "writer", None) is not None:
                log.writer.add_audio(
                    f"samples/{n:02d}", torch.from_numpy(audio.mean(0))[None], step, sr
                )
            paths.append(path)
    del vae
    return paths
