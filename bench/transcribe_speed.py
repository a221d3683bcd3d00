"""Basic Pitch inference time: audiolora's PyTorch model vs onnxruntime on the same windows.

    python bench/transcribe_speed.py [--windows 16] [--batch 8] [--threads 1,2] [--rounds 7]

Needs onnxruntime and basic-pitch's nmp.onnx (`pip install --no-deps basic-pitch==0.4.0`).
For each thread count, both run with that many threads (torch.set_num_threads; onnxruntime's
intra-op pool, its other options at their defaults) on the same windows in the same batches,
after a warm-up, alternating round-robin (who goes first alternates too) so load from other
processes hits both alike. Prints the median milliseconds per 2 s window of each, the ratio of the
medians (PyTorch / onnxruntime; the goal is <= 1.0) and the median of the per-round ratios, and
the largest output difference between the two, with the load average before and after.

Other processes on the same cores hurt PyTorch's OpenMP pool at 2+ threads far more than
onnxruntime's (each parallel op waits for a descheduled thread); `OMP_WAIT_POLICY=PASSIVE` in the
environment (read when torch loads) narrows that. The policy in effect is printed.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

ONNX_INPUT = "serving_default_input_2:0"
ONNX_OUTPUTS = {
    "note": "StatefulPartitionedCall:1",
    "onset": "StatefulPartitionedCall:2",
    "contour": "StatefulPartitionedCall:0",
}


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", default="1,2", help="Comma-separated thread counts.")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    import onnxruntime as ort

    from audiolora.families.transcription.inference import predict_windows
    from audiolora.families.transcription.model import WINDOW_SAMPLES, load_basic_pitch
    from audiolora.families.transcription.onnx_import import find_onnx

    onnx_path = find_onnx()
    if onnx_path is None:
        raise SystemExit("nmp.onnx not found: pip install --no-deps basic-pitch==0.4.0")
    rng = np.random.default_rng(0)
    windows = (0.1 * rng.standard_normal((args.windows, WINDOW_SAMPLES))).astype(np.float32)
    model = load_basic_pitch()
    print(
        f"windows={args.windows} batch={args.batch} rounds={args.rounds} torch {torch.__version__} "
        f"onnxruntime {ort.__version__} OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')} "
        f"cpus={os.cpu_count()} load average {os.getloadavg()[0]:.1f}"
    )

    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])

        def run_ort(session=session) -> dict[str, np.ndarray]:
            parts = []
            for i in range(0, len(windows), args.batch):
                batch = np.ascontiguousarray(windows[i : i + args.batch, :, None])
                parts.append(session.run(list(ONNX_OUTPUTS.values()), {ONNX_INPUT: batch}))
            return {k: np.concatenate([p[j] for p in parts]) for j, k in enumerate(ONNX_OUTPUTS)}

        def run_torch() -> dict[str, np.ndarray]:
            return predict_windows(model, windows, args.batch)

        ref, ours = run_ort(), run_torch()  # warm-up, and the outputs compared
        diff = max(float(np.abs(ref[k] - ours[k]).max()) for k in ONNX_OUTPUTS)
        t_ort, t_torch = [], []
        for r in range(args.rounds):
            if r % 2:
                t_torch.append(timed(run_torch))
                t_ort.append(timed(run_ort))
            else:
                t_ort.append(timed(run_ort))
                t_torch.append(timed(run_torch))
        ms_ort = 1000 * float(np.median(t_ort)) / len(windows)
        ms_torch = 1000 * float(np.median(t_torch)) / len(windows)
        per_round = float(np.median(np.array(t_torch) / np.array(t_ort)))
        print(
            f"threads={threads}: onnxruntime {ms_ort:.1f} ms/window, pytorch {ms_torch:.1f} "
            f"ms/window, ratio pytorch/onnxruntime {ms_torch / ms_ort:.2f}x "
            f"(median per-round {per_round:.2f}x), max output difference {diff:.1e}, "
            f"load average {os.getloadavg()[0]:.1f}"
        )


if __name__ == "__main__":
    main()
