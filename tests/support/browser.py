"""Driving Debian's headless Chromium (chromium + chromedriver, WebGL by SwiftShader) for the map's tests:
the browser fixture lives in tests/conftest.py; these are its helpers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver import Chrome
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    # Chromium ≥ 137 no longer falls back to software WebGL by itself; SwiftShader must be opted into.
    "--enable-unsafe-swiftshader",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1200,900",
]
READY_TIMEOUT = 30


def start_browser() -> Iterator[Chrome]:
    """A headless Chromium, skipped without chromedriver (failed in CI, which installs it)."""
    if not CHROMEDRIVER.exists():
        if os.environ.get("CI"):
            pytest.fail("CI needs Debian's chromium and chromium-driver (scripts/test.sh installs them)")
        pytest.skip("no /usr/bin/chromedriver: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def open_map(browser: Chrome, url: str) -> Chrome:
    """The browser on /map, once the page says the map and the district's tiles are ready."""
    browser.get(f"{url}/map")
    try:
        WebDriverWait(browser, READY_TIMEOUT, poll_frequency=0.1).until(
            lambda d: d.execute_script("return window.twinMapReady === true || !!window.twinMapError")
        )
    except TimeoutException:
        pytest.fail(f"the map was not ready within {READY_TIMEOUT} s; console: {browser.get_log('browser')}")
    error = browser.execute_script("return window.twinMapError || null")
    assert error is None, error
    return browser


def severe_messages(driver: Chrome) -> list[dict[str, Any]]:
    return [
        entry
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" and "favicon.ico" not in entry["message"]
    ]
