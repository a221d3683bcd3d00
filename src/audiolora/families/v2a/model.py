"""An MMAudio-style video-conditioned flow-matching DiT, with MMAudio's module names.

MMAudio (Cheng et al., CVPR 2025) is not packaged on the registries here, so this rebuilds its layout
from torch and diffusers parts at any size: `joint_blocks.N` run joint attention over three streams
(`latent_block`, `clip_block`, `text_block`, each with `attn.qkv`, `linear1` and a SwiGLU `ffn` of
`w1`, `w2`, `w3`), then `fused_blocks.N` attend over the audio latents alone. Conditioning follows
MMAudio: a global vector (timestep + pooled CLIP frames + pooled text) modulates every block
(adaLN); the synchronisation features are resampled to the latent frame rate and added to the
latent stream's modulation frame by frame, so each latent frame is told what moved at its time.
Latent and CLIP tokens carry sinusoidal embeddings of their time in seconds (MMAudio aligns them
with RoPE), so joint attention can line sound up with picture. Seed 002's target globs
(`joint_blocks.*.latent_block.attn.qkv`, `fused_blocks.*.ffn`, ...) name real modules here.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.embeddings import TimestepEmbedding, Timesteps, get_timestep_embedding
from diffusers.models.modeling_utils import ModelMixin


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale) + shift


class SelfAttention(nn.Module):
    """MMAudio's attention input: one fused `qkv` projection and RMS-normalised queries and keys."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.q_norm = nn.RMSNorm(dim // heads)
        self.k_norm = nn.RMSNorm(dim // heads)

    def pre_attention(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, n, _ = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        return self.q_norm(q), self.k_norm(k), v


class MLP(nn.Module):
    """SwiGLU feed-forward (MMAudio's MLP): w2(silu(w1 x) * w3 x)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class MMDitSingleBlock(nn.Module):
    """One stream of a block: adaLN-modulated attention input, then output projection and FFN.

    `pre_only` (MMAudio's last joint block for CLIP and text): only the attention input, since
    nothing reads those streams afterwards.
    """

    def __init__(self, dim: int, heads: int, mlp_ratio: float, pre_only: bool = False):
        super().__init__()
        self.pre_only = pre_only
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = SelfAttention(dim, heads)
        if not pre_only:
            self.linear1 = nn.Linear(dim, dim)
            self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
            self.ffn = MLP(dim, int(dim * mlp_ratio))
        self.adaLN_modulation = nn.Sequential(
            nn.SiLU(), nn.Linear(dim, (2 if pre_only else 6) * dim)
        )

    def pre_attention(self, x: torch.Tensor, c: torch.Tensor):
        """c: [B, D] or per-token [B, N, D]. Returns (q, k, v) and the modulation for later."""
        mod = self.adaLN_modulation(c)
        if mod.dim() == 2:
            mod = mod.unsqueeze(1)
        shift1, scale1, *rest = mod.chunk(2 if self.pre_only else 6, dim=-1)
        qkv = self.attn.pre_attention(modulate(self.norm1(x), shift1, scale1))
        return qkv, rest

    def post_attention(self, x: torch.Tensor, attn: torch.Tensor, mod) -> torch.Tensor:
        if self.pre_only:
            return x
        gate1, shift2, scale2, gate2 = mod
        x = x + gate1 * self.linear1(attn)
        return x + gate2 * self.ffn(modulate(self.norm2(x), shift2, scale2))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        (q, k, v), mod = self.pre_attention(x, c)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.post_attention(x, _merge_heads(out), mod)


def _merge_heads(x: torch.Tensor) -> torch.Tensor:
    b, h, n, d = x.shape
    return x.transpose(1, 2).reshape(b, n, h * d)


class JointBlock(nn.Module):
    """Joint attention over latent, CLIP and text tokens; each stream keeps its own weights."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, pre_only: bool = False):
        super().__init__()
        self.latent_block = MMDitSingleBlock(dim, heads, mlp_ratio)
        self.clip_block = MMDitSingleBlock(dim, heads, mlp_ratio, pre_only)
        self.text_block = MMDitSingleBlock(dim, heads, mlp_ratio, pre_only)

    def forward(self, latent, clip, text, latent_c, global_c, text_mask=None):
        streams = [(self.latent_block, latent, latent_c), (self.clip_block, clip, global_c)]
        streams.append((self.text_block, text, global_c))
        pre = [blk.pre_attention(x, c) for blk, x, c in streams]
        q, k, v = (torch.cat([p[0][i] for p in pre], dim=2) for i in range(3))
        mask = None
        if text_mask is not None:
            keep = torch.ones(q.shape[0], latent.shape[1] + clip.shape[1], dtype=torch.bool)
            mask = torch.cat([keep.to(text_mask.device), text_mask.bool()], 1)[:, None, None, :]
        out = _merge_heads(F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
        sizes = [latent.shape[1], clip.shape[1], text.shape[1]]
        parts = out.split(sizes, dim=1)
        return tuple(
            blk.post_attention(x, a, p[1])
            for (blk, x, _), a, p in zip(streams, parts, pre, strict=True)
        )


class FinalBlock(nn.Module):
    def __init__(self, dim: int, out_dim: int):
        super().__init__()
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(dim, out_dim)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=-1)
        return self.linear(modulate(self.norm(x), shift, scale))


def resample_time(x: torch.Tensor, length: int) -> torch.Tensor:
    """[B, S, D] -> [B, length, D] by linear interpolation over the same time span."""
    if x.shape[1] == length:
        return x
    return F.interpolate(
        x.transpose(1, 2), size=length, mode="linear", align_corners=False
    ).transpose(1, 2)


class V2ADiT(ModelMixin, ConfigMixin):
    """Predicts the flow-matching velocity of audio latents [B, T, latent_dim] from video features."""

    config_name = "config.json"

    @register_to_config
    def __init__(
        self,
        latent_dim: int = 8,
        clip_dim: int = 32,
        sync_dim: int = 17,
        text_dim: int = 32,
        hidden_dim: int = 64,
        num_heads: int = 4,
        depth: int = 2,
        fused_depth: int = 1,
        mlp_ratio: float = 2.0,
        latent_rate: float = 25.0,
        clip_rate: float = 8.0,
    ):
        super().__init__()
        h = hidden_dim
        self.audio_input_proj = nn.Linear(latent_dim, h)
        self.clip_input_proj = nn.Linear(clip_dim, h)
        self.text_input_proj = nn.Linear(text_dim, h)
        self.sync_input_proj = nn.Sequential(nn.Linear(sync_dim, h), nn.SiLU(), nn.Linear(h, h))
        self.clip_cond_proj = nn.Linear(h, h)
        self.text_cond_proj = nn.Linear(h, h)
        self.t_proj = Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.t_embed = TimestepEmbedding(256, h)
        self.joint_blocks = nn.ModuleList(
            JointBlock(h, num_heads, mlp_ratio, pre_only=i == depth - 1) for i in range(depth)
        )
        self.fused_blocks = nn.ModuleList(
            MMDitSingleBlock(h, num_heads, mlp_ratio) for _ in range(fused_depth)
        )
        self.final_layer = FinalBlock(h, latent_dim)

    def _time_embedding(self, n: int, rate: float, like: torch.Tensor) -> torch.Tensor:
        # frame centre times in seconds, at 100 steps per second so that 10 ms apart differ
        t = (torch.arange(n, device=like.device, dtype=torch.float32) + 0.5) / rate * 100
        return get_timestep_embedding(t, self.config.hidden_dim).to(like.dtype)

    def forward(
        self,
        latent: torch.Tensor,
        timestep: torch.Tensor,
        clip: torch.Tensor,
        sync: torch.Tensor,
        text: torch.Tensor,
        text_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """latent [B, T, C]; timestep [B] = sigma in [0, 1]; clip [B, N, Dc]; sync [B, S, Ds]
        (any rate covering the same span); text [B, L, Dt], text_mask [B, L] (1 = token)."""
        cfg = self.config
        x = self.audio_input_proj(latent) + self._time_embedding(
            latent.shape[1], cfg.latent_rate, latent
        )
        cl = self.clip_input_proj(clip) + self._time_embedding(clip.shape[1], cfg.clip_rate, latent)
        tx = self.text_input_proj(text)
        t_emb = self.t_embed(self.t_proj(timestep * 1000).to(latent.dtype))
        if text_mask is not None:
            w = text_mask.to(tx.dtype).unsqueeze(-1)
            text_pooled = (tx * w).sum(1) / w.sum(1).clamp_min(1)
        else:
            text_pooled = tx.mean(1)
        global_c = t_emb + self.clip_cond_proj(cl.mean(1)) + self.text_cond_proj(text_pooled)
        latent_c = global_c.unsqueeze(1) + self.sync_input_proj(
            resample_time(sync, latent.shape[1])
        )
        for block in self.joint_blocks:
            x, cl, tx = block(x, cl, tx, latent_c, global_c, text_mask)
        for block in self.fused_blocks:
            x = block(x, latent_c)
        return self.final_layer(x, latent_c)
