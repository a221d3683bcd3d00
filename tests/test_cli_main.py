import subprocess
import sys

COMMANDS = ["inspect", "config", "train", "eval", "data", "separate", "export", "transcribe"]


def test_help_lists_commands(run_cli):
    code, out, _ = run_cli("--help")
    assert code == 0
    for command in COMMANDS:
        assert f"  {command} " in out


def test_override_typo_is_one_line_exit_2(run_cli):
    code, out, err = run_cli("config", "show", "adapter.rnak=8")
    assert code == 2
    assert err.strip() == "config error: adapter.rnak: unknown key (did you mean adapter.rank?)"
    assert "Traceback" not in err + out


def test_config_show_prints_resolved(run_cli):
    code, out, _ = run_cli("config", "show", "adapter.rank=4", "train.lr=5e-5")
    assert code == 0
    assert "rank: 4" in out and "lr: 5.0e-05" in out


def test_quiet_and_debug_end_with_their_invocation(run_cli):
    """An in-process caller's console is not left silenced (or in debug) by the last command."""
    from audiolora.console import settings

    assert not settings.quiet and not settings.debug
    code, out, _ = run_cli("--quiet", "--debug", "config", "show", "adapter.rank=4")
    assert code == 0 and "rank: 4" in out
    assert not settings.quiet and not settings.debug


def test_unknown_command_exit_2(run_cli):
    code, _, err = run_cli("frobnicate")
    assert code == 2
    assert err.strip().startswith("usage error: No such command 'frobnicate'")
    assert len(err.strip().splitlines()) == 1


def test_missing_config_file_exit_2(run_cli):
    code, _, err = run_cli("config", "show", "missing.yaml")
    assert code == 2 and "missing.yaml: no such config file" in err


def test_unknown_model_is_runtime_error(run_cli):
    code, _, err = run_cli("inspect", "no-such-model")
    assert code == 1 and err.startswith("error: no-such-model: no such model or file")


def test_inspect_lists_modules_and_targets(run_cli):
    code, out, _ = run_cli("inspect", "htdemucs-tiny", "--targets", "*.rewrite")
    assert code == 0
    assert "encoder.0.rewrite" in out and "Conv2d" in out
    assert "crosstransformer" not in out
    assert "select 8 modules" in out


def test_inspect_target_miss_names_closest(run_cli):
    code, _, err = run_cli("inspect", "htdemucs-tiny", "--targets", "encoderr.0.rewrite")
    assert code == 1 and "matches no module" in err and "encoder.0.rewrite" in err


def test_debug_shows_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "audiolora", "--debug", "config", "show", "adapter.rnak=1"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_python_dash_m_entry_point():
    proc = subprocess.run(
        [sys.executable, "-m", "audiolora", "--version"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and "audiolora" in proc.stdout


def test_openmp_waits_passively_unless_the_user_chose(tmp_path):
    """Importing audiolora before torch makes OpenMP threads wait passively (shared cores)."""
    import os
    import subprocess
    import sys

    code = "import os, audiolora, torch; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "PASSIVE", out.stderr
    env["OMP_WAIT_POLICY"] = "ACTIVE"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "ACTIVE", out.stderr
