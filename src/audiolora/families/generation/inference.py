"""Generate audio with a base and adapters through the stock diffusers pipeline."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from ...errors import AudioloraError
from .bases import SUPPORTED as SUPPORTED_KINDS
from .bases import checkpoint_variant, load_pipeline, pipeline_kind, sampling_defaults

# checkpoint kind -> generate() for kinds that do not sample through run_pipeline (their modules
# register themselves); every entry takes generate()'s arguments and returns (audio, samplerate)
GENERATORS: dict[str, Callable[..., tuple[np.ndarray, int]]] = {}
# checkpoint kind -> run_pipeline for pipelines whose __call__ takes other argument names than
# ACE-Step's (their modules register themselves); same arguments and result as run_pipeline
RUNNERS: dict[str, Callable[..., np.ndarray]] = {}


def sample_rate(pipe) -> int:
    """The pipeline's output rate (ACE-Step names it; the others use their VAE's)."""
    return int(getattr(pipe, "sample_rate", None) or pipe.vae.config.sampling_rate)


def attach_adapters(pipe, adapters: Sequence[tuple[str, float]], variant: str) -> None:
    """Load audiolora adapter folders onto the pipeline's DiT, each at its scale (weights add)."""
    from ...adapters import load_adapter, read_adapter_metadata, set_adapter_weights

    weights = {}
    for i, (folder, scale) in enumerate(adapters):
        meta = read_adapter_metadata(folder)
        if meta.get("family") not in (None, "generation"):
            raise AudioloraError(f"{folder}: a {meta['family']} adapter, not a generation adapter")
        trained_on = meta.get("variant")
        if trained_on and trained_on != variant:
            warnings.warn(
                f"{folder}: trained on a {trained_on} checkpoint, used on a {variant} one; "
                "its effect will differ (train on the variant you generate with)",
                stacklevel=2,
            )
        name = f"adapter{i}"
        load_adapter(pipe.transformer, folder, adapter_name=name)
        weights[name] = float(scale)
    if weights:
        set_adapter_weights(pipe.transformer, weights)
    pipe.transformer.eval()


def parse_adapter_arg(text: str) -> tuple[str, float]:
    """`DIR` or `DIR:SCALE` -> (DIR, scale)."""
    folder, sep, scale = text.rpartition(":")
    if sep and folder and not Path(text).exists():
        try:
            return folder, float(scale)
        except ValueError:
            pass
    return text, 1.0


def run_pipeline(
    pipe,
    prompts: list[str],
    *,
    lyrics: str = "",
    duration: float = 10.0,
    seed: int = 0,
    steps: int | None = None,
    guidance: float | None = None,
    shift: float | None = None,
    variant: str | None = None,
    on_step: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Audio [n, channels, samples] for `prompts` with fixed seeds (seed + i for prompt i)."""
    runner = RUNNERS.get(pipeline_kind(pipe))
    if runner is not None:
        return runner(
            pipe,
            prompts,
            lyrics=lyrics,
            duration=duration,
            seed=seed,
            steps=steps,
            guidance=guidance,
            shift=shift,
            variant=variant,
            on_step=on_step,
        )
    variant = variant or checkpoint_variant(pipe)
    d = sampling_defaults(variant, steps, shift, guidance)
    out = []
    for i, prompt in enumerate(prompts):
        callback = None
        if on_step is not None:

            def callback(p, step, t, kwargs, _total=d.steps):
                on_step(step + 1, _total)
                return {}

        with torch.no_grad():
            audio = pipe(
                prompt=prompt,
                lyrics=lyrics,
                audio_duration=float(duration),
                num_inference_steps=d.steps,
                guidance_scale=d.guidance,
                shift=d.shift,
                generator=torch.Generator().manual_seed(int(seed) + i),
                callback_on_step_end=callback,
            ).audios
        out.append(audio[0].float().cpu().numpy())
    return np.stack(out)


def generate(
    model: str,
    prompt: str,
    *,
    lyrics: str = "",
    duration: float = 10.0,
    seed: int = 0,
    steps: int | None = None,
    guidance: float | None = None,
    shift: float | None = None,
    adapters: Sequence[tuple[str, float]] = (),
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, int]:
    """One clip [channels, samples] float32 and its sample rate, from a base name/folder/hub id."""
    from .bases import import_kind, pipeline_class_name, resolve_location

    kind = SUPPORTED_KINDS.get(pipeline_class_name(resolve_location(model)))
    import_kind(kind)
    if kind in GENERATORS:  # kinds with their own sampling path (e.g. autoregressive ones)
        return GENERATORS[kind](
            model,
            prompt,
            lyrics=lyrics,
            duration=duration,
            seed=seed,
            steps=steps,
            guidance=guidance,
            shift=shift,
            adapters=adapters,
            progress=progress,
        )
    pipe = load_pipeline(model)
    pipeline_kind(pipe)
    variant = checkpoint_variant(pipe)
    attach_adapters(pipe, adapters, variant)
    audio = run_pipeline(
        pipe,
        [prompt],
        lyrics=lyrics,
        duration=duration,
        seed=seed,
        steps=steps,
        guidance=guidance,
        shift=shift,
        variant=variant,
        on_step=progress,
    )[0]
    samples = int(round(duration * sample_rate(pipe)))
    return audio[:, :samples].astype(np.float32), sample_rate(pipe)
