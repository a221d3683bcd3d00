"""MusicGen (transformers' MusicgenForConditionalGeneration) as the generation family's autoregressive
path: a code cache, the delay-pattern cross-entropy, LoRA / LoKr on the decoder, samples, report.

`model.family: generation` with `model.name` a MusicGen folder or hub id lands here: GenerationFamily
dispatches on the checkpoint kind through KIND_FAMILIES. Training holds the decoder only
(MusicgenForCausalLM); T5 and EnCodec run once, when the cache is built, and again for the report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import Dataset

from ...errors import ConfigError, DataError
from ..base import Family
from .cache import random_state_kept
from .dataset import _pad_stack
from .family import KIND_FAMILIES, GenerationFamily, split_items
from .musicgen_cache import CodeCache, build_code_cache
from .musicgen_model import load_musicgen, musicgen_loss
from .objective import cfg_dropout_mask

LAYERS = "model.decoder.layers.*"
PRESETS = {
    "self": [f"{LAYERS}.self_attn.{p}" for p in ("q_proj", "k_proj", "v_proj", "out_proj")],
    "cross": [f"{LAYERS}.encoder_attn.{p}" for p in ("q_proj", "k_proj", "v_proj", "out_proj")],
    "ffn": [f"{LAYERS}.fc1", f"{LAYERS}.fc2"],
    "output": ["lm_heads.*"],
}
PRESETS["both"] = PRESETS["self"] + PRESETS["cross"]


def musicgen_targets(preset: str) -> list[str]:
    """Decoder globs for `both`, `self+ffn`, ...; one line naming the valid presets otherwise."""
    globs: list[str] = []
    for part in (p.strip() for p in preset.split("+")):
        if part not in PRESETS:
            raise ConfigError(
                f"generation.target_preset={preset}: {part!r} is not a MusicGen preset "
                f"(join with +: {', '.join(PRESETS)}; MusicGen has no time embedding)"
            )
        globs += [g for g in PRESETS[part] if g not in globs]
    return globs


class CodeClips(Dataset):
    """Cached clips cropped to `window` code frames; crop and CFG-dropout seed from (seed, epoch, index)."""

    def __init__(self, cache, indices, window: int, seed: int = 0, random_crop: bool = True):
        self.cache, self.indices, self.window = cache, list(indices), int(window)
        self.seed, self.random_crop, self.epoch = int(seed), random_crop, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        clip = self.indices[index]
        codes = self.cache.codes(clip)
        rng = np.random.default_rng([self.seed, self.epoch if self.random_crop else 0, index, 7])
        start = 0
        if codes.shape[1] > self.window and self.random_crop:
            start = int(rng.integers(0, codes.shape[1] - self.window + 1))
        crop = codes[:, start : start + self.window].T  # [T, K]: padded along time
        cond = self.cache.condition(clip)
        return {
            "codes": crop,
            "frame_mask": torch.ones(crop.shape[0], dtype=torch.uint8),
            "encoder_hidden_states": cond["encoder_hidden_states"],
            "encoder_attention_mask": cond["encoder_attention_mask"],
            "noise_seed": torch.tensor(int(rng.integers(0, 2**62)), dtype=torch.int64),
        }


def collate_codes(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    out = {k: _pad_stack([i[k] for i in items]) for k in items[0] if k != "noise_seed"}
    out["noise_seed"] = torch.stack([i["noise_seed"] for i in items])
    return out


class MusicGenFamily(GenerationFamily):
    """LoRA / LoKr on MusicGen's decoder, trained from EnCodec codes with its delay pattern."""

    def __init__(self, config):
        if getattr(self, "_initialised", False):
            return
        self._initialised = True
        Family.__init__(self, config)
        from .bases import resolve_location

        self.options = config.generation
        self.location = resolve_location(config.model.name)
        self.kind = "musicgen"
        self.variant = "base"
        self._cache: CodeCache | None = None
        self._splits = None
        if "time" in self.options.target_preset.split("+") and not config.adapter.targets:
            musicgen_targets(self.options.target_preset)  # the one-line error, before any work

    def cache(self) -> CodeCache:
        if self._cache is None:
            items = self.captioned_items()
            folder = self.cache_folder()
            if not (folder / "manifest.json").is_file():
                with random_state_kept():
                    build_code_cache(
                        self.config.model.name, items, folder, two_pass=self.options.two_pass
                    )
            cache = CodeCache(folder)
            cache.check_fresh(self.config.model.name, items)
            if (cache.folder / "shared.safetensors").is_file() and "codebooks" not in cache.shared:
                raise DataError(f"{cache.folder}: not a MusicGen cache; set generation.cache_dir")
            self._cache = cache
            self._splits = split_items(self._root(), items)
        return self._cache

    def window_frames(self) -> int:
        rate = float(self.cache().shared["frame_rate"])
        books = int(self.cache().shared["codebooks"])
        return max(books, int(round(self.options.window_seconds * rate)))

    def datasets(self):
        seed = self.config.run.seed
        train = CodeClips(self.cache(), self.split_indices("train"), self.window_frames(), seed)
        if len(train) == 0:
            raise DataError(f"{self._root()}: no training clips (put them in train/ or the root)")
        valid_idx = self.split_indices("valid")
        valid = (
            CodeClips(self._cache, valid_idx, self.window_frames(), seed, False)
            if valid_idx
            else None
        )
        return train, valid

    def collate(self, items):
        return collate_codes(items)

    def build_model(self) -> nn.Module:
        from ...adapters import attach_adapter

        cache = self.cache()  # T5 and EnCodec run (once) before training, never beside it
        full, _ = load_musicgen(self.config.model.name, with_processor=False)
        decoder = full.decoder
        del full  # only the decoder (MusicgenForCausalLM) stays in memory
        self.start = int(cache.shared["start_token"])
        spec = self.config.adapter
        if not spec.targets and spec.attention is None:
            spec = spec.model_copy(update={"targets": musicgen_targets(self.options.target_preset)})
        decoder.eval()
        batch = collate_codes([CodeClips(cache, [0], self.window_frames(), random_crop=False)[0]])
        example = self._decoder_inputs(decoder, batch)
        attach_adapter(decoder, spec, example_inputs=example)
        return decoder

    def _decoder_inputs(self, decoder, batch) -> tuple:
        from .musicgen_model import delay_pattern

        sequence, _ = delay_pattern(decoder, batch["codes"].transpose(1, 2), self.start)
        mask = batch["encoder_attention_mask"].long()
        return (sequence[:, :-1], None, batch["encoder_hidden_states"], mask)

    def set_gradient_checkpointing(self, model: nn.Module, enabled: bool) -> None:
        if enabled:
            model.gradient_checkpointing_enable()
        else:
            model.gradient_checkpointing_disable()

    def loss_at(self, model, batch, dropout: bool = True) -> torch.Tensor:
        """Delay-pattern cross-entropy; with `dropout`, CFG dropout to the unconditional input."""
        hidden = batch["encoder_hidden_states"]
        mask = batch["encoder_attention_mask"]
        if dropout and self.options.cfg_dropout > 0:
            gens = [torch.Generator().manual_seed(int(s)) for s in batch["noise_seed"]]
            drop = torch.cat([cfg_dropout_mask(1, self.options.cfg_dropout, g) for g in gens])
            drop = drop.to(hidden.device)
            # the model's unconditional input (get_unconditional_inputs: zero states, zero mask)
            null = self._cache.shared["null_hidden_states"].to(hidden).expand_as(hidden)
            null_mask = self._cache.shared["null_attention_mask"].to(mask).expand_as(mask)
            hidden = torch.where(drop.view(-1, 1, 1), null, hidden)
            mask = torch.where(drop.view(-1, 1), null_mask, mask)
        codes = batch["codes"].transpose(1, 2)
        return musicgen_loss(model, codes, batch["frame_mask"], hidden, mask, self.start)

    def training_loss(self, model: nn.Module, batch: Any) -> torch.Tensor:
        return self.loss_at(model, batch)

    def evaluate(self, model: nn.Module, dataset) -> dict[str, float]:
        """Validation cross-entropy on fixed crops, without CFG dropout."""
        losses = []
        with torch.no_grad():
            for i in range(len(dataset)):
                losses.append(float(self.loss_at(model, collate_codes([dataset[i]]), False)))
        return {"loss": sum(losses) / max(len(losses), 1)}

    def adapter_metadata(self) -> dict[str, Any]:
        return {
            "family": "generation",
            "base": self.config.model.name,
            "pipeline": "MusicgenForConditionalGeneration",
            "variant": self.variant,
            "activation_tag": self.options.activation_tag,
        }

    def plan(self, model: nn.Module) -> dict[str, Any]:
        facts = super().plan(model)
        facts["window"] = f"{self.window_frames()} code frames"
        return facts

    def after_evaluation(self, model: nn.Module, step: int, run_dir: Path, log: Any) -> None:
        every = self.options.sample_every
        if every and step % every == 0:
            from .musicgen_report import write_samples

            write_samples(self, model, step, run_dir, log)

    def final_report(self, model: nn.Module, run_dir: Path) -> dict[str, Any]:
        from .musicgen_report import musicgen_report

        return musicgen_report(self, model, run_dir)


KIND_FAMILIES["musicgen"] = MusicGenFamily
