"""Video-to-audio: an MMAudio-style video-conditioned DiT with LoRA, trained from a frozen feature cache."""
