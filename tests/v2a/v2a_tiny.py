"""Tiny v2a pieces shared by the tests."""

from audiolora.data.render.video import VideoSpec
from audiolora.families.v2a.model import V2ADiT

SPEC = VideoSpec(seconds=3.0, fps=16, size=32, samplerate=16000)


def tiny_dit(**kw) -> V2ADiT:
    args = dict(latent_dim=8, clip_dim=32, sync_dim=17, text_dim=32, hidden_dim=32, num_heads=2)
    args.update(latent_rate=31.25, clip_rate=8.0, depth=2, fused_depth=1)
    args.update(kw)
    return V2ADiT(**args)
