"""LoRA vs full fine-tuning of a generation DiT on the same data (issue 15's demo by default): the
share of the full fine-tune's improvement that LoRA reaches on each held-out distance, and LoRA's
trainable share of the DiT's parameters.

    python bench/generation_lora_vs_full.py [--config configs/generation/traditional_lora.yaml]
        [--full-lr 2e-4] [key=value overrides for both runs, e.g. train.max_steps=400]

Both runs use the same config, cache, steps and seed; the full fine-tune trains every parameter of
the DiT (no adapter) at `--full-lr`. Both end with the family's own base-vs-adapted report.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

LOWER_IS_BETTER = ("afd", "log_mel", "frechet")


def full_family_class(base):
    """`base` (a GenerationFamily kind) with the whole DiT trained instead of an adapter."""

    class FullFineTune(base):
        def build_model(self):
            cache = self.cache()
            model = self.load_transformer()
            self.prepare(model, cache)
            return model.requires_grad_(True)

        def save_adapter(self, model, path: Path) -> None:
            model.save_pretrained(path, safe_serialization=True)

    return FullFineTune


def improvements(report: dict) -> dict[str, float]:
    """Per metric, how much better the tuned model is than the base (positive = better)."""
    rows = report["generation"]
    out = {m: rows[m]["base"] - rows[m]["adapted"] for m in LOWER_IS_BETTER if m in rows}
    if "style_accuracy" in rows:
        out["style_accuracy"] = rows["style_accuracy"]["adapted"] - rows["style_accuracy"]["base"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/generation/traditional_lora.yaml")
    parser.add_argument("--full-lr", type=float, default=2e-4)
    parser.add_argument("--out", help="also write the JSON here")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()

    from audiolora.config import load_config
    from audiolora.families.base import get_family
    from audiolora.train import Trainer

    lora_cfg = load_config(args.config, [*args.overrides, "run.name=bench-lora"])
    lora_family = get_family(lora_cfg)
    lora_trainer = Trainer(lora_cfg, lora_family)
    lora = lora_trainer.fit()
    params = list(lora_trainer.raw_model.parameters())
    trainable = sum(p.numel() for p in params if p.requires_grad)
    frozen = sum(p.numel() for p in params if not p.requires_grad)
    full_cfg = load_config(
        args.config, [*args.overrides, "run.name=bench-full", f"train.lr={args.full_lr}"]
    )
    full = Trainer(full_cfg, full_family_class(type(lora_family))(full_cfg)).fit()

    lora_gain, full_gain = improvements(lora["report"]), improvements(full["report"])
    res = {
        "steps": lora_cfg.train.max_steps,
        "lora": lora["report"]["generation"],
        "full": full["report"]["generation"],
        "lora_share_of_full_gain": {
            m: (lora_gain[m] / full_gain[m] if full_gain[m] > 0 else None) for m in lora_gain
        },
        "lora_trainable_share_of_dit": trainable / frozen,
        "lora_seconds": lora["seconds"],
        "full_seconds": full["seconds"],
    }
    text = json.dumps(res, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
