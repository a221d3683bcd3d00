"""Separate-then-transcribe in the proof of concept: a relinked separation adapter through
`transcribe-poc --separation-model --separation-adapter`, base and adapter rows on separated stems,
thresholds tuned on the validation split, and the duplicate-merging union."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from audiolora.families.transcription.pipeline import merge_duplicates
from separation.sep_tiny import save_th, tiny_htdemucs  # tests/ is on sys.path (its conftest)


def test_merge_duplicates_keeps_one_of_each_note_heard_in_two_stems():
    soprano = [(1.00, 1.50, 72), (2.00, 2.50, 71)]
    alto = [(1.03, 1.40, 72), (1.00, 1.50, 67), (2.08, 2.50, 71)]  # bleed: 72 again, 30 ms later
    merged = merge_duplicates(soprano + alto)
    assert merged == [(1.00, 1.50, 67), (1.00, 1.50, 72), (2.00, 2.50, 71), (2.08, 2.50, 71)]
    assert merge_duplicates([]) == []
    assert len(merge_duplicates(soprano + alto, tolerance=0.1)) == 3


def _separation_adapter(base: str, path):
    """An untrained separation adapter that relinks the base to [bass, other] (other a new stem)."""
    from audiolora.adapters import AdapterSpec, attach_adapter, save_adapter
    from audiolora.families.separation.family import links_to_json
    from audiolora.families.separation.model import build_linked_base

    linkage = {"bass": "bass", "other": "new:copy:other"}
    model, links, slices, _ = build_linked_base(base, linkage, ["bass", "other"])
    example = torch.randn(1, 2, int(model.segment * model.samplerate))
    spec = AdapterSpec(rank=2, targets=["*.rewrite"])
    attach_adapter(model, spec, example_inputs=(example,), trainable_slices=slices)
    meta = {
        "family": "separation",
        "base": base,
        "sources": ["bass", "other"],
        "source_linkage": links_to_json(links),
        "samplerate": int(model.samplerate),
        "audio_channels": 2,
        "segment": float(model.segment),
    }
    save_adapter(model, path, meta)
    return path


def _bass_adapter(path):
    """A transcription LoRA whose up factors are random, so it changes what the base hears."""
    from audiolora.adapters import AdapterSpec, save_adapter
    from audiolora.families.transcription.family import attach_lora, load_base

    model = attach_lora(load_base("basic-pitch"), AdapterSpec(rank=2, targets=["onset_out"]))
    torch.manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    save_adapter(model, path, {"family": "transcription", "base": "basic-pitch", "stem": "bass"})
    return path


@pytest.mark.slow
def test_poc_with_a_separation_adapter(run_cli, tiny_dataset, tmp_path):
    from audiolora.audio import read_audio
    from audiolora.families.transcription.dataset import read_notes, track_dirs
    from audiolora.families.transcription.evaluation import as_tuples
    from audiolora.families.transcription.family import load_adapted
    from audiolora.families.transcription.inference import to_mono_22k, transcribe_audio
    from audiolora.families.transcription.pipeline import separator
    from audiolora.metrics.notes import note_scores

    # the base runs at 8 kHz, the data at 22.05 kHz: stems must come back at the input's rate
    base = str(save_th(tiny_htdemucs(["drums", "bass", "other", "vocals"]), tmp_path / "base.th"))
    sep_adapter = str(_separation_adapter(base, tmp_path / "sep"))
    bass_adapter = str(_bass_adapter(tmp_path / "bass"))

    folder = track_dirs(tiny_dataset, "test")[0]
    mix, sr = read_audio(folder / "mixture.wav")
    separated = separator(base, sep_adapter)(mix, sr)
    plain = separator(base)(mix, sr)
    assert list(separated) == ["bass", "other"]  # the adapter's stems, not the base's four
    assert all(s.shape == (2, mix.shape[1]) for s in separated.values())
    # untrained adapter: the linked and the copied stem equal the base's own outputs
    np.testing.assert_allclose(separated["bass"], plain["bass"], atol=1e-5)
    np.testing.assert_allclose(separated["other"], plain["other"], atol=1e-5)

    out = tmp_path / "poc.json"
    code, stdout, err = run_cli(
        "transcribe-poc",
        str(tiny_dataset),
        "--adapters",
        f"bass={bass_adapter}",
        "--separation-model",
        base,
        "--separation-adapter",
        sep_adapter,
        "--tune-on",
        "valid",
        "--merge-duplicates",
        "--json-out",
        str(out),
    )
    assert code == 0, err
    assert "tuned on valid" in stdout and "tuned F1" in stdout
    results = json.loads(out.read_text())
    rows = {(r["condition"], r["scope"]): r for r in results["rows"]}
    for condition in ("base on separated", "adapters on separated"):
        assert {s for c, s in rows if c == condition} == {"bass", "other", "all", "all, merged"}
        assert all("tuned_scores" in rows[(condition, s)] for s in ("bass", "other", "all"))
    assert ("base on mix", "all") in rows and ("adapters on stems", "bass") in rows

    # the "adapters on separated" bass row is the bass adapter on the separated bass stem at its
    # default thresholds; the other stem has no adapter, so its row is the base's
    ref = read_notes(folder, "bass")
    est = as_tuples(
        transcribe_audio(load_adapted("basic-pitch", bass_adapter), to_mono_22k(plain["bass"], sr))
    )
    assert rows[("adapters on separated", "bass")]["scores"] == pytest.approx(note_scores(ref, est))
    assert rows[("adapters on separated", "bass")]["scores"] != pytest.approx(
        rows[("base on separated", "bass")]["scores"]
    )
    assert (
        rows[("adapters on separated", "other")]["scores"]
        == rows[("base on separated", "other")]["scores"]
    )
    tuned = {(t["input"], t["stem"], t["model"]) for t in results["tuned_thresholds"]}
    assert {("separated", "bass", "bass"), ("separated", "bass", "base")} <= tuned
    assert ("mix", "all", "base") in tuned
