"""Training-step cost of adapters on HT-Demucs: full fine-tuning vs PEFT's LoRA vs audiolora's LoRA.

Set-up (issue 3, item 10): HTDemucs with the released htdemucs hyper-parameters (random weights;
bottom_channels=512, dconv_mode=3, t_layers=5; ~42 M parameters), batch 2 x 3 s stereo at 44.1 kHz,
2 CPU threads, AdamW. Each configuration runs in its own child process, and the configurations take
turns round by round so load drift on a shared machine hits them alike. Reports the median step time
(forward + backward + optimizer step) as wall time and as the process's CPU time (steadier when other
work shares the cores), as ratios to full fine-tuning.

`floor` is the model with every weight frozen and no adapter, backpropagating to the input: no
weight gradient and no optimizer at all, the least any adapter method can cost on this model.

Peak memory is measured in a separate one-step child with `MALLOC_MMAP_THRESHOLD_=65536`, so that
glibc returns every freed tensor to the system and the process's high-water RSS (VmHWM, above its
footprint before the model was built, every configuration's libraries already imported) tracks live
tensors. With glibc's default dynamic threshold the heap keeps freed blocks and fragments, so VmHWM
measures the allocator as much as the method (it showed LoRA at 1.02x full while the tensors saved
for backward were 0.93x); that figure is still printed as "RSS x (glibc default)". The timing runs
keep the default allocator (faster).

    python bench/adapter_step.py            # 3 rounds x 3 timed steps per configuration
    python bench/adapter_step.py --quick    # 1 round x 2 timed steps (+1 warm-up)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

CONFIGS = {
    "full": "full fine-tuning",
    "floor": "floor: all weights frozen, no adapter",
    "peft_lora": "PEFT LoRA r=8, every layer PEFT supports",
    "audiolora_lora": "audiolora LoRA r=8, every targetable layer",
    "full_ckpt": "full fine-tuning + gradient checkpointing",
    "audiolora_lora_ckpt": "audiolora LoRA r=8 + gradient checkpointing",
}


def _rss_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def build_htdemucs():
    from demucs.htdemucs import HTDemucs

    return HTDemucs(
        sources=["drums", "bass", "other", "vocals"],
        bottom_channels=512,
        dconv_mode=3,
        t_layers=5,
        segment=3,
    )


def peft_supported_targets(model) -> list[str]:
    """What PEFT's own LoRA can take on HT-Demucs without crashing: Linear, undilated Conv1d/2d,
    nn.MultiheadAttention (in_proj + out_proj together). Not ConvTranspose, not dilated convs."""
    import torch.nn as nn

    names, mha = [], set()
    for name, m in model.named_modules():
        if isinstance(m, nn.MultiheadAttention):
            mha.add(name)
            names.append(name)
        elif name.rsplit(".", 1)[0] in mha:
            continue
        elif isinstance(m, nn.Linear) or (
            isinstance(m, (nn.Conv1d, nn.Conv2d))
            and all(d == 1 for d in m.dilation)
            and m.groups == 1
        ):
            names.append(name)
    return names


def child(config: str, steps: int, warmup: int) -> dict:
    import re

    import torch

    torch.set_num_threads(2)
    torch.manual_seed(0)
    # every configuration's libraries are loaded before the baseline, so that peak memory compares
    # tensors: importing PEFT and audiolora's engine alone adds about 180 MiB of RSS
    import demucs.htdemucs  # noqa: F401
    import peft  # noqa: F401

    import audiolora.adapters.engine  # noqa: F401

    before = _rss_kb("VmRSS")
    model = build_htdemucs()
    n_params = sum(p.numel() for p in model.parameters())
    if config.startswith("audiolora"):
        from audiolora import AdapterSpec, attach_adapter

        attach_adapter(model, AdapterSpec(rank=8, alpha=16, targets=["*"]))
    elif config == "peft_lora":
        from peft import LoraConfig, inject_adapter_in_model

        names = peft_supported_targets(model)
        target = "^(?:" + "|".join(re.escape(n) for n in names) + ")$"
        inject_adapter_in_model(LoraConfig(r=8, lora_alpha=16, target_modules=target), model)
    if config == "floor":
        for p in model.parameters():
            p.requires_grad_(False)
    if config.endswith("ckpt"):
        from audiolora import enable_gradient_checkpointing

        enable_gradient_checkpointing(model)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    trainable = sum(p.numel() for p in params)
    frozen_with_grad = 0  # frozen base weights must not ask for weight gradients
    if config not in ("full", "full_ckpt"):
        frozen_with_grad = sum(
            p.numel() for n, p in model.named_parameters() if p.requires_grad and "lora_" not in n
        )
    opt = torch.optim.AdamW(params, lr=1e-4) if params else None
    gen = torch.Generator().manual_seed(1)
    mix = torch.randn(2, 2, 3 * 44100, generator=gen, requires_grad=config == "floor")
    target = torch.randn(2, 4, 2, 3 * 44100, generator=gen)
    times, cpu = [], []
    for i in range(warmup + steps):
        t0, c0 = time.perf_counter(), time.process_time()
        if opt:
            opt.zero_grad(set_to_none=True)
        mix.grad = None
        loss = torch.nn.functional.l1_loss(model(mix), target)
        loss.backward()
        if opt:
            opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    return {
        "config": config,
        "times": times,
        "cpu": cpu,
        "peak_kb": _rss_kb("VmHWM") - before,
        "params": n_params,
        "trainable": trainable,
        "frozen_with_grad": frozen_with_grad,
    }


def run_child(config: str, steps: int, warmup: int, live_memory: bool = False) -> dict:
    import os

    env = dict(os.environ)
    # torch's OpenMP threads spin-wait for each other; when other processes share the cores, a
    # descheduled thread stalls every parallel op. Passive waiting keeps the timings about the method.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if live_memory:  # see the module docstring
        env["MALLOC_MMAP_THRESHOLD_"] = "65536"
    cmd = [
        sys.executable,
        __file__,
        "--child",
        config,
        "--steps",
        str(steps),
        "--warmup",
        str(warmup),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if out.returncode != 0:
        raise SystemExit(f"{config} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 round x 2 timed steps")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=3, help="timed steps per configuration per round")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated subset")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.steps, args.warmup)))
        return
    if args.quick:
        args.rounds, args.steps = 1, 2
    configs = [c for c in args.configs.split(",") if c]
    results = {c: {"times": [], "cpu": [], "peak_kb": []} for c in configs}
    for c in configs:  # peak memory of two steps (Adam state exists from the first on)
        results[c]["live_peak_kb"] = run_child(c, 1, 1, live_memory=True)["peak_kb"]
    for r in range(args.rounds):
        for c in configs:  # round-robin
            res = run_child(c, args.steps, args.warmup)
            results[c]["times"] += res["times"]
            results[c]["cpu"] += res["cpu"]
            results[c]["peak_kb"].append(res["peak_kb"])
            results[c].update(
                params=res["params"],
                trainable=res["trainable"],
                frozen_with_grad=res["frozen_with_grad"],
            )
            print(f"round {r + 1} {c}: {statistics.median(res['times']):.2f} s/step wall, "
                  f"{statistics.median(res['cpu']):.2f} s CPU, peak {res['peak_kb'] / 1024:.0f} MiB",
                  file=sys.stderr, flush=True)  # fmt: skip
    ref = results.get("full")
    print(f"HTDemucs ({next(iter(results.values()))['params'] / 1e6:.1f} M params), batch 2 x 3 s stereo, "
          f"2 threads, {args.rounds} round(s) x {args.steps} step(s)")  # fmt: skip
    print(f"{'configuration':<48} {'trainable':>10} {'s/step':>7} {'CPU s':>7} {'peak MiB':>9} "
          f"{'time x':>7} {'CPU x':>6} {'mem x':>6} {'RSS x (glibc default)':>22}")  # fmt: skip
    for c in configs:
        res = results[c]
        res["median_s"] = statistics.median(res["times"])
        res["median_cpu_s"] = statistics.median(res["cpu"])
        res["peak_mib"] = res["live_peak_kb"] / 1024
        nan = float("nan")
        tx = res["median_s"] / statistics.median(ref["times"]) if ref else nan
        cx = res["median_cpu_s"] / statistics.median(ref["cpu"]) if ref else nan
        mx = res["live_peak_kb"] / ref["live_peak_kb"] if ref else nan
        rx = max(res["peak_kb"]) / max(ref["peak_kb"]) if ref else nan
        res["time_ratio"], res["cpu_ratio"], res["mem_ratio"], res["rss_ratio"] = tx, cx, mx, rx
        print(f"{CONFIGS[c]:<48} {res['trainable']:>10,} {res['median_s']:>7.2f} "
              f"{res['median_cpu_s']:>7.2f} {res['peak_mib']:>9.0f} {tx:>7.2f} {cx:>6.2f} {mx:>6.2f} "
              f"{rx:>22.2f}")  # fmt: skip
        if res["frozen_with_grad"]:
            print(f"  warning: {res['frozen_with_grad']:,} frozen base weights still require grad")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
