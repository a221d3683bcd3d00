"""Real-time factor of `audiolora separate` vs demucs's own `apply_model` on the same model and file,
the cost of a merged adapter, and int8 dynamic quantization (speed and SDR).

    python bench/separate_rtf.py --model htdemucs-mini --seconds 60 [--run outputs/<run>] [--threads 2]

With `--run`, the run's final adapter is merged (`audiolora export --merge`) and timed against the
base, and its int8 export is timed and scored (MDX SDR on the run's test split, float vs int8).
Prints one JSON object; timings are the best of `--repeats` runs.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch


def best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def test_mix(seconds: float, samplerate: int, data_root: str | None) -> np.ndarray:
    """A real mixture from a rendered set when one is given (tracks concatenated), else noise+tones."""
    from audiolora.audio import read_audio

    frames = int(seconds * samplerate)
    if data_root:
        parts, total = [], 0
        for mix in sorted(Path(data_root).glob("*/*/mixture.wav")):
            audio, _ = read_audio(mix, samplerate, 2)
            parts.append(audio)
            total += audio.shape[1]
            if total >= frames:
                break
        if parts:
            out = np.concatenate(parts, axis=1)
            reps = int(np.ceil(frames / out.shape[1]))
            return np.tile(out, (1, reps))[:, :frames].astype(np.float32)
    t = np.arange(frames) / samplerate
    rng = np.random.default_rng(0)
    mix = 0.2 * np.stack([np.sin(2 * np.pi * 110 * t), np.sin(2 * np.pi * 220 * t)])
    return (mix + 0.05 * rng.standard_normal(mix.shape)).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="htdemucs-mini")
    parser.add_argument(
        "--run", help="a separation run folder (final/ adapter) to merge and quantize"
    )
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--data", help="a rendered dataset root to take real mixtures from")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from demucs.apply import apply_model

    from audiolora.families.separation.separate import separate_file
    from audiolora.hub import load_model

    model = load_model(args.model)
    sr = model.samplerate
    mix = test_mix(args.seconds, sr, args.data)
    tmp = Path(tempfile.mkdtemp(prefix="rtf-"))
    wav = tmp / "mix.wav"
    sf.write(wav, mix.T, sr, subtype="FLOAT")
    x = torch.from_numpy(mix)

    def demucs_apply(m):
        ref = x.mean(0)
        with torch.no_grad():
            apply_model(m, ((x - ref.mean()) / ref.std())[None], shifts=0, split=True, overlap=0.25)

    res: dict = {"model": args.model, "seconds_audio": args.seconds, "threads": args.threads}
    res["demucs_apply_model_s"] = best_time(lambda: demucs_apply(model), args.repeats)
    res["audiolora_separate_s"] = best_time(
        lambda: separate_file(model, wav, tmp / "out", progress=False), args.repeats
    )
    res["rtf_demucs"] = res["demucs_apply_model_s"] / args.seconds
    res["rtf_audiolora"] = res["audiolora_separate_s"] / args.seconds
    res["audiolora_over_demucs"] = res["audiolora_separate_s"] / res["demucs_apply_model_s"]

    if args.run:
        from audiolora.config import load_config
        from audiolora.families.separation.evaluate import evaluate_models
        from audiolora.families.separation.export import export_merged_model
        from audiolora.families.separation.model import load_adapted

        run = Path(args.run)
        merged_path = export_merged_model(run / "final", tmp / "merged.safetensors")
        quant_path = export_merged_model(run / "final", tmp / "q.safetensors", quantize="int8")
        merged, quant = load_model(str(merged_path)), load_model(str(quant_path))
        base_time = best_time(
            lambda: separate_file(model, wav, tmp / "o1", progress=False), args.repeats
        )
        merged_time = best_time(
            lambda: separate_file(merged, wav, tmp / "o2", progress=False), args.repeats
        )
        quant_time = best_time(
            lambda: separate_file(quant, wav, tmp / "o3", progress=False), args.repeats
        )
        res["merged_over_base"] = merged_time / base_time
        res["int8_speedup"] = merged_time / quant_time
        res["rtf_merged"] = merged_time / args.seconds
        res["rtf_int8"] = quant_time / args.seconds
        config = load_config(run / "config.yaml")
        _, links = load_adapted(run / "final")
        test_root = Path(config.data.root) / config.eval.split
        merged_report = evaluate_models(merged, model, links, test_root)
        quant_report = evaluate_models(quant, model, links, test_root)
        res["sdr_mdx_merged"] = {
            s: r["adapted"]["sdr_mdx"] for s, r in merged_report["stems"].items()
        }
        res["sdr_mdx_int8"] = {s: r["adapted"]["sdr_mdx"] for s, r in quant_report["stems"].items()}
        res["int8_sdr_cost_db"] = {
            s: res["sdr_mdx_merged"][s] - res["sdr_mdx_int8"][s] for s in res["sdr_mdx_merged"]
        }
    text = json.dumps(res, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
