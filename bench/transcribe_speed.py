"""Basic Pitch inference time: audiolora's PyTorch model vs onnxruntime on the same windows.

    python bench/transcribe_speed.py [--windows 16] [--batch 8] [--threads 2]

Needs onnxruntime and basic-pitch's nmp.onnx (`pip install --no-deps basic-pitch==0.4.0`).
Prints milliseconds per 2 s window for both and the ratio (PyTorch / onnxruntime).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def best_of(fn, repeats: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import onnxruntime as ort

    from audiolora.families.transcription.inference import predict_windows
    from audiolora.families.transcription.model import WINDOW_SAMPLES, load_basic_pitch
    from audiolora.families.transcription.onnx_import import find_onnx

    torch.set_num_threads(args.threads)
    onnx_path = find_onnx()
    if onnx_path is None:
        raise SystemExit("nmp.onnx not found: pip install --no-deps basic-pitch==0.4.0")
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    windows = (0.1 * rng.standard_normal((args.windows, WINDOW_SAMPLES))).astype(np.float32)

    def run_ort() -> None:
        for i in range(0, len(windows), args.batch):
            session.run(None, {"serving_default_input_2:0": windows[i : i + args.batch, :, None]})

    model = load_basic_pitch()
    t_ort = best_of(run_ort, args.repeats) / len(windows)
    t_torch = best_of(lambda: predict_windows(model, windows, args.batch), args.repeats) / len(
        windows
    )
    print(f"windows={args.windows} batch={args.batch} threads={args.threads}")
    print(f"onnxruntime {1000 * t_ort:.1f} ms/window")
    print(f"pytorch     {1000 * t_torch:.1f} ms/window")
    print(f"ratio pytorch/onnxruntime {t_torch / t_ort:.2f}x")


if __name__ == "__main__":
    main()
