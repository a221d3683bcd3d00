"""Headless Chromium (system package) through Selenium, and helpers to drive Gradio widgets."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,1800",
)


def require_chromium() -> None:
    """Skip when the browser is missing outside CI; in CI (CI=true) a missing browser fails."""
    missing = [
        p for p in (CHROMIUM, CHROMEDRIVER) if not (os.path.isfile(p) and os.access(p, os.X_OK))
    ]
    if not missing:
        return
    message = f"{', '.join(missing)} missing: install chromium and chromium-driver (make sysdeps)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI: {message}")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_driver(profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    shutil.rmtree(profile, ignore_errors=True)
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    return driver


class Page:
    """A Gradio page: find widgets by elem_id, type, click, wait for text."""

    def __init__(self, driver, timeout: float = 60):
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver = driver
        self.wait = WebDriverWait(driver, timeout, poll_frequency=0.25)

    def find(self, css: str):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec

        return self.wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))

    def tab(self, name: str) -> None:
        from selenium.webdriver.common.by import By

        def clickable(d):
            for b in d.find_elements(By.CSS_SELECTOR, "button[role='tab']"):
                if b.text.strip() == name and b.is_displayed():
                    return b
            return False

        self.wait.until(clickable).click()

    def type(self, elem_id: str, text: str, enter: bool = False) -> None:
        from selenium.webdriver.common.keys import Keys

        box = self.find(f"#{elem_id} textarea, #{elem_id} input")
        self.wait.until(lambda d: box.is_displayed())
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(Keys.DELETE)
        box.send_keys(text)
        if enter:
            box.send_keys(Keys.ENTER)
        else:
            box.send_keys(Keys.TAB)  # blur: Gradio commits the value

    def click(self, elem_id: str) -> None:
        button = self.find(f"#{elem_id}")
        self.wait.until(lambda d: button.is_displayed() and button.is_enabled())
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
        button.click()

    def text(self, elem_id: str) -> str:
        el = self.find(f"#{elem_id}")
        value = el.text
        for box in el.find_elements("css selector", "textarea, input"):
            value += "\n" + (box.get_attribute("value") or "")
        return value

    def wait_text(self, elem_id: str, needle: str) -> str:
        self.wait.until(lambda d: needle in self.text(elem_id))
        return self.text(elem_id)

    def upload(self, elem_id: str, path: Path) -> None:
        self.find(f"#{elem_id} input[type='file']").send_keys(str(path))

    def screenshot(self, name: str) -> None:
        """Save a screenshot when AUDIOLORA_UI_SCREENSHOTS names a folder (for docs/ui/)."""
        folder = os.environ.get("AUDIOLORA_UI_SCREENSHOTS")
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            self.driver.save_screenshot(str(Path(folder) / f"{name}.png"))
