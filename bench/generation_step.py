"""Generation training cost on a small ACE-Step DiT (diffusers' AceStepTransformer1DModel, random init).

Part 1, the step: LoRA (r=16 on self + cross attention) against a full fine-tune and against the
frozen-weights floor (no weight gradient at all, the gradient flows to the input latents), with and
without gradient checkpointing of the DiT blocks. Each configuration runs in its own process; time is
the median step over the measured steps, peak memory is the process's peak RSS growth (VmHWM).

Part 2, the data path: a training step that reads cached latents and condition embeddings against one
that encodes the batch on the fly with the pipeline's own VAE, text encoder and condition encoder.

    python bench/generation_step.py [--steps 6]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

CONFIGS = ["full", "floor", "lora", "full_ckpt", "lora_ckpt"]
DIT = dict(
    hidden=256, layers=4, heads=4, head_dim=64, acoustic_dim=32, text_hidden=128, text_layers=2
)
BATCH, FRAMES, COND = 2, 256, 96


def _rss_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def _pipe():
    from audiolora.families.generation.builders import ace_step_pipeline

    return ace_step_pipeline(**DIT, vae_hidden=32, downsampling=(4, 8, 8), samplerate=16000)


def step_child(config: str, steps: int) -> dict:
    import torch

    from audiolora.families.generation import ace_step
    from audiolora.families.generation.objective import flow_matching_loss, noisy_latents_and_target

    torch.set_num_threads(2)
    torch.manual_seed(0)
    pipe = _pipe()
    model, silence = pipe.transformer, pipe.condition_encoder.silence_latent
    del pipe
    before = _rss_kb("VmRSS")
    if config.startswith("lora"):
        from audiolora import AdapterSpec, attach_adapter
        from audiolora.families.generation.targets import preset_targets

        attach_adapter(model, AdapterSpec(rank=16, alpha=16, targets=preset_targets("both")))
    if config == "floor":
        model.requires_grad_(False)
    if config.endswith("ckpt"):
        model.enable_gradient_checkpointing()
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4) if params else None
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(BATCH, FRAMES, DIT["acoustic_dim"], generator=g)
    hidden = torch.randn(BATCH, COND, DIT["hidden"], generator=g)
    ctx = ace_step.context_latents(silence, BATCH, FRAMES)
    times = []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        if opt:
            opt.zero_grad(set_to_none=True)
        noise = torch.randn_like(x0)
        sigma = torch.rand(BATCH)
        x_t, target = noisy_latents_and_target(x0, noise, sigma)
        x_t.requires_grad_(config == "floor")
        loss = flow_matching_loss(ace_step.velocity(model, x_t, sigma, hidden, ctx), target)
        loss.backward()
        if opt:
            opt.step()
        if i:
            times.append(time.perf_counter() - t0)
    return {
        "config": config,
        "s_step": statistics.median(times),
        "peak_kb": _rss_kb("VmHWM") - before,
        "trainable": sum(p.numel() for p in params),
    }


def data_child(mode: str, steps: int) -> dict:
    """Steps per second of a LoRA step whose batch comes from the cache or is encoded on the fly."""
    import torch

    from audiolora import AdapterSpec, attach_adapter
    from audiolora.data.captions import Caption
    from audiolora.families.generation import ace_step
    from audiolora.families.generation.objective import flow_matching_loss, noisy_latents_and_target
    from audiolora.families.generation.targets import preset_targets

    torch.set_num_threads(2)
    pipe = _pipe()
    model = pipe.transformer
    attach_adapter(model, AdapterSpec(rank=16, alpha=16, targets=preset_targets("both")))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    lps = pipe.latents_per_second
    wave = torch.randn(2, int(FRAMES / lps * 16000)) * 0.1
    caption = Caption(caption="a koto melody over a tanpura drone, slow, meditative", bpm=72)

    def encode():
        with torch.no_grad():
            lat = ace_step.encode_audio(pipe, wave)
            cond = ace_step.encode_condition(pipe, caption, FRAMES / lps, lps)
        return lat, cond["encoder_hidden_states"]

    cached = [encode() for _ in range(BATCH)]
    times = []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        batch = [encode() for _ in range(BATCH)] if mode == "on_the_fly" else cached
        x0 = torch.stack([b[0] for b in batch])
        hidden = torch.stack([b[1] for b in batch])
        ctx = ace_step.context_latents(pipe.condition_encoder.silence_latent, BATCH, x0.shape[1])
        sigma = torch.rand(BATCH)
        x_t, target = noisy_latents_and_target(x0, torch.randn_like(x0), sigma)
        opt.zero_grad(set_to_none=True)
        flow_matching_loss(ace_step.velocity(model, x_t, sigma, hidden, ctx), target).backward()
        opt.step()
        if i:
            times.append(time.perf_counter() - t0)
    return {"config": mode, "steps_per_s": 1 / statistics.median(times)}


def run(kind: str, config: str, steps: int) -> dict:
    env = dict(os.environ)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    cmd = [sys.executable, __file__, "--child", kind, config, "--steps", str(steps)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if out.returncode != 0:
        raise SystemExit(f"{config} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--child", nargs=2)
    args = ap.parse_args()
    if args.child:
        kind, config = args.child
        fn = step_child if kind == "step" else data_child
        print(json.dumps(fn(config, args.steps)))
        return
    res = {c: run("step", c, args.steps) for c in CONFIGS}
    full, floor = res["full"], res["floor"]
    print(
        f"{'configuration':<12} {'trainable':>10} {'s/step':>7} {'x full':>7} {'x floor':>8} {'peak MiB':>9} {'mem x full':>10}"
    )
    for c, r in res.items():
        print(
            f"{c:<12} {r['trainable']:>10,} {r['s_step']:>7.3f} {r['s_step'] / full['s_step']:>7.2f} "
            f"{r['s_step'] / floor['s_step']:>8.2f} {r['peak_kb'] / 1024:>9.0f} {r['peak_kb'] / full['peak_kb']:>10.2f}"
        )
    data = {m: run("data", m, max(3, args.steps // 2)) for m in ("cache", "on_the_fly")}
    ratio = data["cache"]["steps_per_s"] / data["on_the_fly"]["steps_per_s"]
    print(
        f"from the cache {data['cache']['steps_per_s']:.2f} steps/s, encoding on the fly "
        f"{data['on_the_fly']['steps_per_s']:.2f} steps/s: the cache is {ratio:.1f}x faster"
    )


if __name__ == "__main__":
    main()
