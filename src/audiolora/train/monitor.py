"""Background resource monitor: process RSS (psutil) and CUDA memory, sampled in a thread."""

from __future__ import annotations

import threading
from collections.abc import Callable

import psutil
import torch

GB = 1024**3
CUDA_WARN_FRACTION = 0.92


class ResourceMonitor:
    """Samples memory every `interval` seconds; warns once above `warn_gb`; keeps peaks and means."""

    def __init__(
        self,
        interval: float = 5.0,
        warn_gb: float | None = None,
        on_warning: Callable[[str], None] | None = None,
    ):
        self.interval = interval
        self.warn_gb = warn_gb
        self.on_warning = on_warning
        self.process = psutil.Process()
        self.cuda = torch.cuda.is_available()
        self.samples = 0
        self.peak_rss = 0
        self.sum_rss = 0
        self.peak_cuda = 0
        self.warned = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def sample(self) -> dict[str, float]:
        """Take one sample now; returns current figures in GB."""
        rss = self.process.memory_info().rss
        cuda = torch.cuda.max_memory_allocated() if self.cuda else 0
        with self._lock:
            self.samples += 1
            self.peak_rss = max(self.peak_rss, rss)
            self.sum_rss += rss
            self.peak_cuda = max(self.peak_cuda, cuda)
        current = {"rss_gb": rss / GB}
        if self.cuda:
            current["cuda_peak_gb"] = cuda / GB
        if not self.warned:
            message = self._over_threshold(current)
            if message:
                self.warned = True
                if self.on_warning:
                    self.on_warning(
                        f"{message} (lower train.batch_size, enable "
                        "train.gradient_checkpointing or use a smaller preset)"
                    )
        return current

    def _over_threshold(self, current: dict[str, float]) -> str | None:
        worst = max(current.values())
        if self.warn_gb is not None and worst > self.warn_gb:
            return f"memory use {worst:.2f} GB is above train.memory_warn_gb={self.warn_gb:g} GB"
        if self.warn_gb is None and self.cuda:
            # Without a threshold, warn near the card's capacity (seed 004: 92 %).
            total = torch.cuda.get_device_properties(0).total_memory
            reserved = torch.cuda.max_memory_reserved()
            if reserved > CUDA_WARN_FRACTION * total:
                return f"GPU memory reserved {reserved / GB:.2f} GB is above 92 % of {total / GB:.1f} GB"
        return None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def start(self) -> ResourceMonitor:
        self.sample()
        self._thread = threading.Thread(target=self._run, name="audiolora-monitor", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 1)
        self.sample()

    def summary(self) -> dict[str, float | int]:
        """Peak and mean figures in GB, and the number of samples."""
        with self._lock:
            out: dict[str, float | int] = {
                "samples": self.samples,
                "peak_rss_gb": round(self.peak_rss / GB, 3),
                "mean_rss_gb": round(self.sum_rss / max(self.samples, 1) / GB, 3),
            }
            if self.cuda:
                out["peak_cuda_gb"] = round(self.peak_cuda / GB, 3)
        return out

    def format_summary(self) -> str:
        s = self.summary()
        text = f"memory: peak RSS {s['peak_rss_gb']:.2f} GB, mean {s['mean_rss_gb']:.2f} GB"
        if "peak_cuda_gb" in s:
            text += f", peak CUDA {s['peak_cuda_gb']:.2f} GB"
        return text + f" ({s['samples']} samples)"
