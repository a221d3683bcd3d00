"""What the training engine costs per step over a bare PyTorch loop, on the same model and data.

Set-up: the tiny HTDemucs test family (tests/train/tiny_family.py: demucs HTDemucs, 8 channels,
PEFT LoRA r=2 on 4 layers + one bias trained in full), batch 4 x 1024 samples stereo, AdamW, 1 CPU
thread. Three configurations, taking turns round by round so load drift on a shared machine hits
them alike: a bare loop (DataLoader, forward, backward, clip, AdamW step, LambdaLR step), the
Trainer with logging every step but no evaluation or checkpoints, and the Trainer with a checkpoint
every 5 steps. Reports the median per-step process CPU time (steadier than wall time when other work
shares the cores) and its ratio to the bare loop.

    python bench/train_overhead.py            # 3 rounds x 20 steps
    python bench/train_overhead.py --quick    # 1 round x 10 steps
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "train"))

from tiny_family import TinySeparationFamily  # noqa: E402

from audiolora.config import load_config  # noqa: E402
from audiolora.console import settings  # noqa: E402
from audiolora.train import Trainer  # noqa: E402
from audiolora.train.schedules import build_scheduler  # noqa: E402

BASE = [
    "adapter.rank=2",
    "train.batch_size=4",
    "train.lr=1e-3",
    "train.eval_every=null",
    "train.log_every=1",
    "train.loss_curve=false",
]


def bare_loop(steps: int) -> float:
    config = load_config(None, [*BASE, f"train.max_steps={steps}"])
    family = TinySeparationFamily(config)
    family.train_size = 4 * steps
    model = family.build_model()
    train, _ = family.datasets()
    loader = torch.utils.data.DataLoader(train, batch_size=4, shuffle=True)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-3)
    sched = build_scheduler(opt, "cosine", steps)
    next(iter(loader))  # warm the data path like the trainer's set-up does
    start = time.process_time()
    for batch in loader:
        loss = family.training_loss(model, batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        float(loss.detach())
    return (time.process_time() - start) / steps


def trainer(steps: int, checkpoint_every: int | None, out: Path) -> float:
    ck = "null" if checkpoint_every is None else str(checkpoint_every)
    config = load_config(None, [*BASE, f"train.max_steps={steps}", f"train.checkpoint_every={ck}"])
    family = TinySeparationFamily(config)
    family.train_size = 4 * steps
    t = Trainer(config, family, run_dir=out / f"run-{time.time_ns()}").setup()
    start = time.process_time()
    t.fit()
    return (time.process_time() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)  # one thread: CPU time is not inflated by OpenMP spin-waits
    settings.quiet = True
    rounds, steps = (1, 10) if args.quick else (3, 20)
    times: dict[str, list[float]] = {"bare loop": [], "trainer": [], "trainer + checkpoints": []}
    with tempfile.TemporaryDirectory() as tmp:
        bare_loop(2)  # first-call warm-up of the model's kernels
        for _ in range(rounds):
            times["bare loop"].append(bare_loop(steps))
            times["trainer"].append(trainer(steps, None, Path(tmp)))
            times["trainer + checkpoints"].append(trainer(steps, 5, Path(tmp)))
    base = statistics.median(times["bare loop"])
    rows = {
        k: {
            "cpu_ms_per_step": round(1000 * statistics.median(v), 1),
            "ratio": round(statistics.median(v) / base, 3),
        }
        for k, v in times.items()
    }
    print(json.dumps({"rounds": rounds, "steps": steps, "results": rows}, indent=1))


if __name__ == "__main__":
    main()
