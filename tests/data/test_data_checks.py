"""`check_dataset` / `audiolora data check` on a bad-input corpus built here: each bad case gives
its own one-line message naming the track, the file and the fix; files are never modified."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from stemkit import SR, make_track, tone

from audiolora.audio import write_audio
from audiolora.data.checks import check_dataset

SOURCES = ["a", "b", "c"]

# track -> (expected message fragment, error or warning)
CASES = {
    "misaligned": ("b.wav: 1.100 s, other stems 1.000 s", "error"),
    "short": ("c.wav: 0.500 s, other stems 1.000 s", "error"),
    "wrong_rate": (
        "b.wav: 22050 Hz, expected 16000 Hz; resample it or pass --allow-resample",
        "error",
    ),
    "mono": ("a.wav: 1 channel(s) in a 2-channel set; re-export it with 2 channels", "error"),
    "corrupt": ("c.wav: unreadable audio", "error"),
    "empty": ("a.wav: empty file (0 bytes)", "error"),
    "nan": ("b.wav: 3 NaN/inf samples", "error"),
    "mixture": ("mixture.wav: mixture differs from the sum of the stems by", "error"),
    "clipped": ("a.wav: clipped", "error"),
    "missing": ("c.wav: missing stem", "error"),
    "silent": ("b.wav: silent stem", "warning"),
}


def build_corpus(root):
    """One clean track plus one track per bad case, in a train split."""
    split = root / "train"
    make_track(split / "clean")
    for name in CASES:
        stems = make_track(split / name)
        folder = split / name
        if name == "misaligned":  # b starts 100 ms late (silence prepended)
            late = np.concatenate([np.zeros((2, SR // 10), np.float32), stems["b"]], axis=1)
            write_audio(folder / "b.wav", late, SR)
        elif name == "short":
            write_audio(folder / "c.wav", stems["c"][:, : SR // 2], SR)
        elif name == "wrong_rate":
            write_audio(folder / "b.wav", tone(1.0, 440.0, sr=22050), 22050)
        elif name == "mono":
            write_audio(folder / "a.wav", stems["a"][:1], SR)
        elif name == "corrupt":
            data = (folder / "c.wav").read_bytes()
            (folder / "c.wav").write_bytes(b"RIFX" + data[4:12] + b"\x00" * 40)
        elif name == "empty":
            (folder / "a.wav").write_bytes(b"")
        elif name == "nan":
            bad = stems["b"].copy()
            bad[0, [5, 50, 500]] = [np.nan, np.inf, -np.inf]
            write_audio(folder / "b.wav", bad, SR)
        elif name == "mixture":
            write_audio(folder / "mixture.wav", stems["a"] + stems["b"], SR)
        elif name == "clipped":
            hot = np.clip(stems["a"] * 8, -1.0, 1.0)
            write_audio(folder / "a.wav", hot, SR)
            write_audio(folder / "mixture.wav", hot + stems["b"] + stems["c"], SR)
        elif name == "missing":
            (folder / "c.wav").unlink()
        elif name == "silent":
            write_audio(folder / "b.wav", np.zeros_like(stems["b"]), SR)
            write_audio(folder / "mixture.wav", stems["a"] + stems["c"], SR)


def digest(root):
    return {
        p: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    build_corpus(root)
    return root


def test_each_bad_case_gives_its_one_line_message(corpus):
    before = digest(corpus)
    report = check_dataset(corpus, SOURCES)
    assert not report.ok
    for track, (message, kind) in CASES.items():
        lines = report.errors if kind == "error" else report.warnings
        hits = [line for line in lines if line.startswith(f"train/{track}: ") and message in line]
        assert hits, (track, report.errors + report.warnings)
        assert all("\n" not in line for line in hits)
    assert not [line for line in report.errors + report.warnings if line.startswith("train/clean:")]
    # the clean track's rows are ok; each bad track is flagged in the table rows
    rows = {r.track: r for r in report.rows}
    assert rows["train/clean"].errors == 0 and rows["train/clean"].residual_db < -100
    assert rows["train/silent"].errors == 0 and rows["train/silent"].warnings == 1
    assert all(rows[f"train/{t}"].errors >= 1 for t, (_, k) in CASES.items() if k == "error")
    assert digest(corpus) == before  # read-only


def test_allow_resample_and_expected_rate(corpus, tmp_path):
    report = check_dataset(corpus, SOURCES, allow_resample=True)
    assert not [e for e in report.errors if e.startswith("train/wrong_rate:")]
    clean = tmp_path / "clean"
    make_track(clean / "train" / "t1")
    make_track(clean / "valid" / "t2")
    assert check_dataset(clean, SOURCES).ok
    report = check_dataset(clean, SOURCES, samplerate=44100)
    assert len(report.errors) == 8 and "16000 Hz, expected 44100 Hz" in report.errors[0]


def test_length_tolerance(tmp_path):
    stems = make_track(tmp_path / "t")
    write_audio(tmp_path / "t" / "c.wav", stems["c"][:, : SR - 80], SR)  # 5 ms short
    assert check_dataset(tmp_path, SOURCES, tolerance_s=0.01).ok
    assert not check_dataset(tmp_path, SOURCES, tolerance_s=0.001).ok


def test_subset_of_sources_compares_mixture_with_all_stems(techhouse):
    report = check_dataset(techhouse, ["kick", "hihat"])
    assert report.ok, report.errors


def test_check_cli_table_summary_and_exit_codes(run_cli, corpus, techhouse):
    code, out, _ = run_cli("data", "check", str(corpus), "--sources", "a,b,c")
    assert code == 1
    assert "FAILED: 12 tracks checked" in out and "error(s)" in out
    assert "train/misaligned: b.wav" in out
    code, out, _ = run_cli("data", "check", str(techhouse))  # stems from the manifest
    assert code == 0 and "OK: 3 tracks checked" in out and "0 error(s)" in out
    code, _, err = run_cli("data", "check", str(corpus / "nope"), "--sources", "a")
    assert code == 1 and "no such dataset folder" in err and len(err.strip().splitlines()) == 1
