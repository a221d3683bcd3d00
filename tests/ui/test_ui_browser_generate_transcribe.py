"""The web UI in a real browser (headless Chromium): the Generate and Transcribe tabs."""

from __future__ import annotations

import io
import re
import urllib.request
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
import soundfile as sf
import torch
from browser import Page, free_port, make_driver, require_chromium

from audiolora.audio import write_audio

pytestmark = pytest.mark.slow

SR = 16000


@pytest.fixture(scope="module")
def tiny_ace(tmp_path_factory) -> Path:
    """A tiny random AceStepPipeline saved like a checkpoint (as tests/generation builds it)."""
    from audiolora.families.generation.builders import ace_step_pipeline

    folder = tmp_path_factory.mktemp("ace") / "tiny-ace-turbo"
    ace_step_pipeline(samplerate=SR, downsampling=(4, 8, 8)).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def adapter(tiny_ace, tmp_path_factory) -> Path:
    """A LoRA adapter on the tiny DiT's attention with nonzero B (as after training)."""
    from diffusers import AceStepTransformer1DModel

    from audiolora.adapters import AdapterSpec, attach_adapter, save_adapter
    from audiolora.families.generation.targets import preset_targets

    model = AceStepTransformer1DModel.from_pretrained(tiny_ace, subfolder="transformer")
    attach_adapter(model, AdapterSpec(rank=4, alpha=8, targets=preset_targets("both")))
    torch.manual_seed(3)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    folder = tmp_path_factory.mktemp("adapter") / "lora"
    save_adapter(model, folder, {"family": "generation", "variant": "turbo"})
    return folder


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    """(page, url, work folder): the app on a free port, opened in headless Chromium."""
    require_chromium()
    from audiolora.ui.app import build_app, launch

    work = tmp_path_factory.mktemp("ui-work")
    app = build_app(work)
    port = free_port()
    launch(app, port=port, block=False)
    url = f"http://127.0.0.1:{port}/"
    driver = make_driver(tmp_path_factory.mktemp("chromium-profile"))
    try:
        driver.get(url)
        page = Page(driver)
        page.find("#ds-folder")
        yield page, url, work
    finally:
        driver.quit()
        app.close()


def fill(page: Page, css: str, text: str) -> None:
    """Replace the value of the input at `css` and blur it (Gradio commits on change)."""
    from selenium.webdriver.common.keys import Keys

    box = page.find(css)
    page.wait.until(lambda d: box.is_displayed())
    page.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", box)
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    box.send_keys(text)
    box.send_keys(Keys.TAB)


def media_src(page: Page, css: str) -> str:
    """The `src` (an <img>) or `href` (a download link) of the first element at `css` with one."""

    def found(d):
        for el in d.find_elements("css selector", css):
            url = el.get_attribute("src") or el.get_attribute("href")
            if url:
                return url
        return False

    return page.wait.until(found)


def player_url(page: Page, elem_id: str) -> str:
    """A Gradio audio output shown as a player (waveform): the URL of the audio it plays."""
    page.find(f"#{elem_id} [data-testid^='waveform-']")
    return media_src(page, f"#{elem_id} a[data-testid='download-link']")


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as r:  # noqa: S310 (the local test server)
        return r.read()


def test_generate_with_adapter_scale(ui, tiny_ace, adapter):
    from audiolora.families.generation.inference import generate

    page, _, work = ui
    page.tab("Generate")
    page.type("gen-model", str(tiny_ace))
    page.type("gen-prompt", "a koto melody")
    fill(page, "#gen-duration input[type='number']", "2")
    fill(page, "#gen-seed input", "7")
    fill(page, "#gen-steps input", "2")
    page.type("gen-adapter0", str(adapter))
    fill(page, "#gen-scale0 input[type='number']", "0.5")
    page.click("gen-run")
    status = page.wait_text("gen-status", "wrote ")
    played = sf.info(io.BytesIO(fetch(player_url(page, "gen-audio"))))
    assert (played.samplerate, played.frames, played.channels) == (SR, 2 * SR, 2)
    assert fetch(media_src(page, "#gen-spec img")).startswith(b"\x89PNG")
    page.screenshot("generate")

    wav = Path(re.search(r"wrote (\S+\.wav)", status).group(1))
    assert wav.parent.parent == work / "generate" and wav.name == "generated_seed7.wav"
    assert wav.with_suffix(".png").stat().st_size > 1000
    audio, sr = sf.read(wav, always_2d=True, dtype="float32")
    assert sr == SR and audio.shape == (2 * SR, 2)  # the asked 2 s, stereo
    # the browser's seed, steps, adapter and scale reached the API: same clip as a direct call
    ask = dict(duration=2.0, seed=7, steps=2)
    same, _ = generate(str(tiny_ace), "a koto melody", adapters=[(str(adapter), 0.5)], **ask)
    full, _ = generate(str(tiny_ace), "a koto melody", adapters=[(str(adapter), 1.0)], **ask)
    np.testing.assert_allclose(audio.T, same, atol=1e-5)
    assert not np.allclose(audio.T, full, atol=1e-3)


def test_transcribe_a4_tone(ui, tmp_path):
    page, _, work = ui
    sr = 22050
    t = np.arange(int(1.5 * sr)) / sr
    tone = 0.3 * np.sin(2 * np.pi * 440.0 * t) * np.minimum(1, 20 * (1.5 - t))
    clip = write_audio(tmp_path / "a4.wav", tone[None].astype(np.float32), sr)
    page.tab("Transcribe")
    page.upload("tx-input", clip)
    page.find("#tx-input audio, #tx-input [data-testid='waveform']")
    page.click("tx-run")
    status = page.wait_text("tx-status", " notes")
    assert fetch(media_src(page, "#tx-roll img")).startswith(b"\x89PNG")
    played = sf.info(io.BytesIO(fetch(player_url(page, "tx-preview"))))
    assert played.samplerate == 22050 and played.duration > 1.5  # the notes + 1 s tail
    link = page.wait.until(
        lambda d: next(
            (
                a.get_attribute("href")
                for a in d.find_elements("css selector", "#tx-midi a")
                if (a.get_attribute("href") or "").split("?")[0].endswith(".mid")
            ),
            False,
        )
    )
    page.screenshot("transcribe")

    midi = next((work / "transcribe").glob("*/a4.mid"))
    assert fetch(link) == midi.read_bytes()  # the download link serves the file on disk
    notes = pretty_midi.PrettyMIDI(str(midi)).instruments[0].notes
    assert re.match(rf"{len(notes)} notes", status.strip()) and notes
    assert 69 in {n.pitch for n in notes}  # A4
    preview, preview_sr = sf.read(midi.with_name("a4_preview.wav"))
    assert preview_sr == 22050 and np.abs(preview).max() > 0.5
    assert midi.with_name("a4_roll.png").stat().st_size > 1000
