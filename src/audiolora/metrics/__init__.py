"""Metrics: separation SDR (MDX and BSSEval v4 conventions)."""

from .sdr import bsseval_v4_frames, sdr_bsseval_v4, sdr_mdx

__all__ = ["sdr_mdx", "sdr_bsseval_v4", "bsseval_v4_frames"]
