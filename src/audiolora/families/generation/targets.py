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

# Stable Audio's StableAudioDiTModel: attn1 self, attn2 cross, ff.net feed-forward, timestep_proj
# the time-embedding MLP, proj_out the output projection
SA_BLOCK = "transformer_blocks.*"
STABLE_AUDIO = {
    "self": [f"{SA_BLOCK}.attn1.{p}" for p in ATTENTION_PARTS],
    "cross": [f"{SA_BLOCK}.attn2.{p}" for p in ATTENTION_PARTS],
    "ffn": [f"{SA_BLOCK}.ff.net.0.proj", f"{SA_BLOCK}.ff.net.2"],
    "time": ["timestep_proj.0", "timestep_proj.2"],
    "output": ["proj_out"],
}
STABLE_AUDIO["both"] = STABLE_AUDIO["self"] + STABLE_AUDIO["cross"]

# Stable Audio 3's StableAudio3DiTModel: fused projections (to_qkv self, to_kv cross), a SwiGLU
# feed-forward, the timestep MLP to_timestep_embed, proj_out the output projection
STABLE_AUDIO_3 = {
    "self": [f"{SA_BLOCK}.self_attn.to_qkv", f"{SA_BLOCK}.self_attn.to_out"],
    "cross": [f"{SA_BLOCK}.cross_attn.{p}" for p in ("to_q", "to_kv", "to_out")],
    "ffn": [f"{SA_BLOCK}.ff.proj_in", f"{SA_BLOCK}.ff.proj_out"],
    "time": ["to_timestep_embed.0", "to_timestep_embed.2"],
    "output": ["proj_out"],
}
STABLE_AUDIO_3["both"] = STABLE_AUDIO_3["self"] + STABLE_AUDIO_3["cross"]
KIND_PRESETS = {"ace-step": PRESETS, "stable-audio": STABLE_AUDIO, "stable-audio-3": STABLE_AUDIO_3}


def preset_targets(preset: str, kind: str = "ace-step") -> list[str]:
    """Globs for `both`, `self+time+output`, ... on `kind`'s DiT; a one-line error naming the
    valid presets."""
    presets = KIND_PRESETS[kind]
    globs: list[str] = []
    for part in preset.split("+"):
        part = part.strip()
        if part not in presets:
            raise ConfigError(
                f"generation.target_preset={preset}: {part!r} unknown (join with +: {', '.join(presets)})"
            )
        globs += [g for g in presets[part] if g not in globs]
    return globs
