"""`audiolora ui`: registered, binds 127.0.0.1 by default, warns for any other host."""

import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from browser import free_port


def test_ui_help_shows_the_local_default(run_cli):
    code, out, _ = run_cli("ui", "--help")
    assert code == 0
    assert "--host" in out and "127.0.0.1" in out and "7861" in out


def _serve(tmp_path, *args):
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "audiolora",
            "ui",
            "--port",
            str(port),
            "--work-dir",
            str(tmp_path),
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, COLUMNS="200"),
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                assert r.status == 200
                break
        except OSError:
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return port, out


@pytest.mark.slow
def test_other_host_warns_and_default_does_not(tmp_path):
    port, out = _serve(tmp_path, "--host", "0.0.0.0")
    assert "warning" in out and "binding 0.0.0.0" in out, out
    port, out = _serve(tmp_path)
    assert f"http://127.0.0.1:{port}" in out and "warning" not in out, out
