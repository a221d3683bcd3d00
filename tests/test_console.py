"""Written to a pipe (a log, `| tee`), tables and lines keep their full width; COLUMNS still rules."""

from __future__ import annotations

import os
import subprocess
import sys

LONG_STEMS = ["kick_and_low_percussion_from_drums", "hihat_and_cymbals_from_drums", "bass"]

SCRIPT = f"""
from audiolora.console import warn
from audiolora.families.separation.evaluate import print_table

def row(base_row):
    return {{
        "base_row": base_row,
        "base": {{"sdr_mdx": 1.23, "sdr_musdb": 1.5}},
        "adapted": {{"sdr_mdx": 10.61, "sdr_musdb": 11.2}},
        "gain_mdx": 9.38,
    }}

print_table({{"split": "test", "tracks": 6, "stems": {{s: row("new (copy of drums)") for s in {LONG_STEMS!r}}}}})
warn("a warning " + "long " * 40 + "end")
"""


def run_piped(columns: str | None) -> subprocess.CompletedProcess:
    env = {
        k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR", "TTY_COMPATIBLE")
    }
    if columns is not None:
        env["COLUMNS"] = columns
    return subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,  # stdout and stderr are pipes, not terminals
        stdin=subprocess.DEVNULL,
        env=env,
        text=True,
        encoding="utf-8",
        check=True,
    )


def test_the_sdr_table_is_full_width_in_a_pipe():
    done = run_piped(None)
    lines = done.stdout.splitlines()
    for stem in LONG_STEMS:
        [line] = [x for x in lines if x.startswith(f"│ {stem} ")]
        assert "new (copy of drums)" in line
        assert line.rstrip().endswith("│")  # the right border, on the stem's own line
        assert line.count("│") == 8  # 7 columns, none wrapped onto a second line
    assert "adapted MUSDB ┃" in done.stdout
    assert len([x for x in lines if x.startswith("│")]) == len(LONG_STEMS)
    [warning] = [x for x in done.stderr.splitlines() if x.strip()]
    assert warning.startswith("warning: a warning") and warning.endswith("end")


def test_columns_is_honoured_in_a_pipe():
    done = run_piped("60")
    lines = [x for x in done.stdout.splitlines() if x.strip()]
    assert max(len(x) for x in lines) <= 60
    assert not any(x.startswith(f"│ {LONG_STEMS[0]} ") for x in lines)  # cut or wrapped at 60
    assert len(done.stderr.strip().splitlines()) > 1
