"""`audiolora inspect basic-pitch` loads the bundled Basic Pitch and reports its learned head."""

from __future__ import annotations

from audiolora.families.transcription.model import HEAD_MODULES, load_basic_pitch


def _lora_params(conv, rank: int) -> int:
    """LoRA on a Conv2d: A is a conv in -> rank with the base's kernel, B a 1x1 conv rank -> out."""
    out_ch, in_ch, kh, kw = conv.weight.shape
    return rank * in_ch * kh * kw + out_ch * rank


def test_inspect_basic_pitch_rank_reports_the_note_convs(run_cli):
    code, out, err = run_cli("inspect", "basic-pitch", "--targets", "note_*", "--rank", "8")
    assert code == 0, err
    text = " ".join(out.split())
    model = load_basic_pitch()
    expected = _lora_params(model.note_conv, 8) + _lora_params(model.note_out, 8)
    assert expected == 6_032
    assert "note_conv" in text and "note_out" in text
    assert not any(n in text for n in HEAD_MODULES if not n.startswith("note_"))
    assert f"2 adapted, {expected:,} trainable parameters" in text


def test_inspect_basic_pitch_lists_the_six_head_convs(run_cli):
    code, out, err = run_cli("inspect", "basic-pitch")
    assert code == 0, err
    text = " ".join(out.split())
    for name in HEAD_MODULES:
        assert name in text
    assert "6 modules with parameters, 16,700 parameters in total" in text


def test_unknown_model_names_basic_pitch_in_one_line(run_cli):
    code, _, err = run_cli("inspect", "basic-pitc")
    assert code == 1
    assert "basic-pitch" in err and "Traceback" not in err and err.count("\n") <= 1
