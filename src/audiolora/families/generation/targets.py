"""Adapter target presets for the generation DiTs, by module role (names of diffusers' classes)."""

from __future__ import annotations

from ...errors import ConfigError

ATTENTION_PARTS = ("to_q", "to_k", "to_v", "to_out.0")
PRESETS = {
    "self": [f"layers.*.self_attn.{p}" for p in ATTENTION_PARTS],
    "cross": [f"layers.*.cross_attn.{p}" for p in ATTENTION_PARTS],
    "ffn": ["layers.*.mlp.gate_proj", "layers.*.mlp.up_proj", "layers.*.mlp.down_proj"],
    "time": ["time_embed.linear_*", "time_embed_r.linear_*"],
    "output": ["proj_out_conv"],
}
PRESETS["both"] = PRESETS["self"] + PRESETS["cross"]


def preset_targets(preset: str) -> list[str]:
    """Globs for `both`, `self+time+output`, ...; a one-line error naming the valid presets."""
    globs: list[str] = []
    for part in preset.split("+"):
        part = part.strip()
        if part not in PRESETS:
            raise ConfigError(
                f"generation.target_preset={preset}: {part!r} unknown (join with +: {', '.join(PRESETS)})"
            )
        globs += [g for g in PRESETS[part] if g not in globs]
    return globs
