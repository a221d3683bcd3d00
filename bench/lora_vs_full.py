"""LoRA vs full fine-tuning on a separation task: the share of the full fine-tune's SDR gain per stem
that LoRA reaches, and LoRA's trainable share of the parameters.

    python bench/lora_vs_full.py [--config configs/separation/techhouse_5stem.yaml] [--full-lr 3e-4]
        [key=value overrides for both runs, e.g. train.max_steps=300]

Both runs use the same config, data, steps and seed; the full fine-tune trains every parameter of
the linked model (no adapter) at `--full-lr`. `--full-only` skips the LoRA run. Prints one JSON
object.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch


def full_family_class():
    from audiolora.families.separation.evaluate import evaluate_models, print_table
    from audiolora.families.separation.export import save_demucs_safetensors
    from audiolora.families.separation.family import SeparationFamily
    from audiolora.families.separation.loading import single_model
    from audiolora.families.separation.model import build_linked_base
    from audiolora.hub import load_model

    class FullFineTune(SeparationFamily):
        """The separation family with every parameter trained in full (no adapter)."""

        def build_model(self):
            cfg = self.config
            model, self.links, _slices, _base = build_linked_base(
                cfg.model.name,
                cfg.separation.source_linkage,
                cfg.data.sources or None,
                cfg.separation.new_stem_init,
            )
            self.segment = model.segment
            for p in model.parameters():
                p.requires_grad_(True)
            return model

        def full_parameter_names(self, model):
            return []

        def save_adapter(self, model, path: Path) -> None:
            path.mkdir(parents=True, exist_ok=True)
            state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
            save_demucs_safetensors(state, model, path / "model.safetensors")

        def final_report(self, model, run_dir: Path):
            cfg = self.config
            base = single_model(load_model(cfg.model.name), cfg.model.name)
            model.segment = self.segment
            report = evaluate_models(
                model,
                base,
                self.links,
                Path(cfg.data.root) / cfg.eval.split,
                shifts=cfg.eval.shifts,
                overlap=cfg.eval.overlap,
            )
            print_table(report)
            return report

    return FullFineTune


def gains(report: dict) -> dict[str, float]:
    """Adapted minus base MDX SDR of every stem of a run's final report."""
    return {
        s: row["adapted"]["sdr_mdx"] - row["base"]["sdr_mdx"] for s, row in report["stems"].items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/separation/techhouse_5stem.yaml")
    parser.add_argument("--full-lr", type=float, default=3e-4)
    parser.add_argument("--out", help="also write the JSON here")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--full-only", action="store_true", help="skip the LoRA run (one already measured)"
    )
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from audiolora.config import load_config
    from audiolora.families.base import get_family
    from audiolora.train import Trainer

    full_cfg = load_config(
        args.config, [*args.overrides, "run.name=bench-full", f"train.lr={args.full_lr}"]
    )
    res = {"steps": full_cfg.train.max_steps}
    if not args.full_only:
        lora_cfg = load_config(args.config, [*args.overrides, "run.name=bench-lora"])
        lora_trainer = Trainer(lora_cfg, get_family(lora_cfg))
        lora = lora_trainer.fit()
        params = list(lora_trainer.raw_model.parameters())
        res["lora_gain_db"] = gains(lora["report"])
        res["lora_seconds"] = lora["seconds"]
        res["lora_trainable_share"] = sum(p.numel() for p in params if p.requires_grad) / sum(
            p.numel() for p in params
        )
    full = Trainer(full_cfg, full_family_class()(full_cfg)).fit()
    res["full_gain_db"] = gains(full["report"])
    res["full_adapted_sdr_mdx"] = {
        s: row["adapted"]["sdr_mdx"] for s, row in full["report"]["stems"].items()
    }
    res["full_seconds"] = full["seconds"]
    if "lora_gain_db" in res:
        res["lora_share_of_full_gain"] = {
            s: (g / res["full_gain_db"][s] if res["full_gain_db"][s] > 0 else None)
            for s, g in res["lora_gain_db"].items()
        }
    text = json.dumps(res, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
