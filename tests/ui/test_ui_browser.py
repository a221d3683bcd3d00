"""The web UI in a real browser (headless Chromium): Dataset, Train, Separate, Listen."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from browser import Page, free_port, make_driver, require_chromium

from audiolora.audio import write_audio
from audiolora.data.captions import load_captions, read_caption_csv
from audiolora.metrics import listening

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    require_chromium()
    from audiolora.ui.app import build_app, launch

    work = tmp_path_factory.mktemp("ui-work")
    app = build_app(work)
    port = free_port()
    launch(app, port=port, block=False)
    yield f"http://127.0.0.1:{port}/", work
    app.close()


@pytest.fixture(scope="module")
def page(app_url, tmp_path_factory):
    driver = make_driver(tmp_path_factory.mktemp("chromium-profile"))
    driver.get(app_url[0])
    p = Page(driver)
    p.find("#ds-folder")
    yield p
    driver.quit()


def test_dataset_edit_caption_and_save(page, pop4_data):
    page.tab("Dataset")
    page.type("ds-folder", str(pop4_data))
    page.click("ds-open")
    page.wait_text("ds-status", "opened 10 files")
    first = page.wait_text("ds-caption", "pop song")  # the first file's sidecar caption
    assert "pop song" in first
    page.type("ds-caption", "edited in the browser, warm rhodes")
    page.click("ds-set-caption")
    page.wait_text("ds-status", "caption of")
    page.type("ds-tag", "mytrigger")
    page.click("ds-apply-tag")
    page.wait_text("ds-status", "prepended")
    page.click("ds-check")
    page.wait_text("ds-status", "problem(s)")
    page.click("ds-save")
    page.wait_text("ds-status", "saved")
    page.screenshot("dataset")
    saved = pop4_data / "captions.csv"
    rows = read_caption_csv(saved)  # the CLI's reader
    assert len(rows) == 10
    first_file = next(f for f in sorted(rows) if f.endswith("mixture.wav"))
    assert rows[first_file].caption == "mytrigger, edited in the browser, warm rhodes"
    assert all(c.caption.split(", ")[0] == "mytrigger" for c in rows.values())
    items = load_captions(pop4_data, csv_path=saved, fill_missing=False)
    by_path = {str(i.path.resolve()): i.meta.caption for i in items}
    assert by_path[first_file] == "mytrigger, edited in the browser, warm rhodes"


def test_train_start_see_loss_stop(page, pop4_data, tmp_path):
    cfg = {
        "model": {"family": "separation", "name": "htdemucs-tiny"},
        "run": {"output_dir": str(tmp_path / "runs")},
        "data": {
            "root": str(pop4_data),
            "sources": ["drums", "bass", "other", "vocals"],
            "samplerate": 44100,
            "allow_resample": True,
            "segment": 1.0,
        },
        "train": {"max_steps": 2, "batch_size": 1, "log_every": 1, "eval_every": 2},
    }
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(cfg))
    page.tab("Train")
    page.type("tr-config", str(config), enter=True)
    page.click("tr-load")
    page.wait.until(lambda d: page.text("tr-steps").strip().endswith("2"))
    page.type("tr-steps", "500")  # long enough to stop it while it runs
    page.type("tr-run-name", "browser")
    cli = page.wait_text("tr-cli", "train.max_steps=500")
    assert f"audiolora train {config} train.max_steps=500 --run-name browser" in cli

    def shown_step() -> int:  # the status is polled: it may skip a step number
        m = re.search(r"running: step (\d+) / 500", page.text("tr-status"))
        return int(m.group(1)) if m else -1

    page.click("tr-start")
    page.wait.until(lambda d: shown_step() >= 2)
    page.find("#tr-loss img")
    page.wait_text("tr-evals", "loss")  # the evaluation at step 2
    assert "CPU" in page.text("tr-memory")
    page.screenshot("train")
    page.click("tr-stop")
    status = page.wait_text("tr-status", "exit 130")
    run = tmp_path / "runs" / "browser"

    def checkpoint_steps():
        return sorted(int(p.name.split("_")[1]) for p in (run / "checkpoints").glob("step_*"))

    stopped_at = checkpoint_steps()[-1]
    assert f"step_{stopped_at}" in status
    page.click("tr-resume")
    assert "--resume" in page.wait_text("tr-cli", "--resume")

    page.wait.until(lambda d: shown_step() >= stopped_at + 2)
    page.click("tr-stop")
    page.wait_text("tr-status", "exit 130")
    assert checkpoint_steps()[-1] >= stopped_at + 2
    assert f" step {stopped_at + 1} epoch " in (run / "train.log").read_text()


def test_separate_shows_stems(page, pop4_data, app_url):
    mix = sorted(pop4_data.glob("*/*/mixture.wav"))[0]
    page.tab("Separate")
    page.upload("sep-input", mix)
    page.find(
        "#sep-input audio, #sep-input .waveform-container, #sep-input [data-testid='waveform']"
    )
    page.click("sep-run")
    page.wait_text("sep-status", "4 stems: drums, bass, other, vocals")
    links = page.driver.find_elements("css selector", "#sep-files a")
    assert len(links) == 4
    page.screenshot("separate")
    written = sorted(Path(app_url[1], "separate").glob("*/*.wav"))
    assert [p.stem for p in written] == sorted(["drums", "bass", "other", "vocals"])
    for p in written:
        assert p.stat().st_size > 1000


def _clips(folder: Path, freq: float, n: int) -> Path:
    sr = 16000
    t = np.arange(sr // 2) / sr
    for i in range(n):
        write_audio(
            folder / f"clip{i}.wav", (0.3 * np.sin(2 * np.pi * freq * (i + 1) * t))[None], sr
        )
    return folder


def test_listening_test_to_the_end(page, tmp_path):
    a = _clips(tmp_path / "base", 220.0, 2)
    b = _clips(tmp_path / "adapted", 330.0, 2)
    ratings_csv = tmp_path / "ratings.csv"
    page.tab("Listen")
    page.type("ls-a", str(a))
    page.type("ls-b", str(b))
    page.type("ls-rater", "tester")
    page.type("ls-csv", str(ratings_csv))
    page.click("ls-start")
    page.wait_text("ls-progress", "clip 1 of 4")
    given = [5, 3, 4, 2]
    for i, value in enumerate(given):
        page.wait_text("ls-progress", f"clip {i + 1} of 4")
        label = next(
            el
            for el in page.driver.find_elements("css selector", "#ls-rating label")
            if el.text.strip() == str(value)
        )
        label.click()
        page.click("ls-submit")
    page.wait_text("ls-progress", "done: 4 clips rated")
    summary = page.wait_text("ls-summary", "MOS")
    page.screenshot("listen")
    with ratings_csv.open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["rating"]) for r in rows] == given
    assert {r["rater"] for r in rows} == {"tester"}
    assert sorted(Path(r["clip"]).parent.name for r in rows) == [
        "adapted",
        "adapted",
        "base",
        "base",
    ]
    for score in listening.summarize(rows):
        assert f"{score.system}: MOS {score.mos:.2f}" in summary
