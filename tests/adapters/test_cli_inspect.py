def test_inspect_rank_prints_parameter_report(run_cli):
    code, out, err = run_cli(
        "inspect", "htdemucs-tiny", "--targets", "*.conv_tr,crosstransformer.*", "--rank", "4"
    )
    assert code == 0, err
    assert "ConvTranspose2d" in out and "MultiheadAttention" in out
    assert "10 adapted" in out and "trainable parameters" in out


def test_inspect_rank_lokr_covers_attention(run_cli):
    code, out, err = run_cli(
        "inspect",
        "htdemucs-tiny",
        "--targets",
        "crosstransformer.*",
        "--rank",
        "4",
        "--kind",
        "lokr",
    )
    assert code == 0, err
    assert "lokr MultiheadAttention" in out and "6 adapted" in out


def test_inspect_rank_bad_target_fails_in_one_line(run_cli):
    code, _, err = run_cli(
        "inspect", "htdemucs-tiny", "--targets", "crosstransformer.nope*", "--rank", "4"
    )
    assert code == 1
    assert err.startswith("error: target pattern 'crosstransformer.nope*' matches no module")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_inspect_rank_needs_targets(run_cli):
    code, _, err = run_cli("inspect", "htdemucs-tiny", "--rank", "4")
    assert code == 2 and "--rank needs --targets" in err
