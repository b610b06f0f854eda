"""Open a page in headless Chromium through Selenium and Debian's ``chromium-driver``.

Test helper (needs the ``chromium`` and ``chromedriver`` binaries and the ``selenium``
package; :func:`browser_missing` says which is absent, so a test can skip). It records the
browser's console errors and every resource the page requested, measures horizontal
overflow, runs JavaScript probes and takes a screenshot of the first screen.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


@dataclass
class PageCheck:
    """What happened while loading one page at one width."""

    errors: list[str] = field(default_factory=list)
    requested: list[str] = field(default_factory=list)
    title: str = ""
    scroll_width: int = 0
    inner_width: int = 0
    probes: dict[str, Any] = field(default_factory=dict)


def chromium_binary() -> str | None:
    """Path of a Chromium/Chrome binary, or None."""
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


def browser_missing() -> str | None:
    """Why a browser test cannot run here (``None`` when it can)."""
    if importlib.util.find_spec("selenium") is None:
        return "needs the selenium package"
    if chromium_binary() is None:
        return "needs chromium on PATH"
    if shutil.which("chromedriver") is None:
        return "needs chromedriver on PATH (Debian: chromium-driver)"
    return None


@contextmanager
def browser(height: int = 1000) -> Iterator[Any]:
    """A headless Chromium driven by Selenium (quit on exit)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium_binary() or ""
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-extensions", "--hide-scrollbars",
                 f"--window-size=1280,{height}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options,
                              service=Service(executable_path=shutil.which("chromedriver")))
    try:
        yield driver
    finally:
        driver.quit()


def check_page(driver: Any, path: Path, width: int, screenshot: Path | None = None,
               probes: dict[str, str] | None = None) -> PageCheck:
    """Load ``path`` with a viewport ``width`` px wide; see :class:`PageCheck`."""
    height = int(driver.execute_script("return window.outerHeight") or 1000)
    driver.set_window_size(width, height)
    inner = int(driver.execute_script("return window.innerWidth"))
    if inner != width:  # make the viewport, not the window, ``width`` wide
        driver.set_window_size(2 * width - inner, height)
    driver.get(path.resolve().as_uri())
    result = PageCheck(title=driver.title)
    result.errors = [e["message"] for e in driver.get_log("browser")
                     if e.get("level") == "SEVERE"]
    result.requested = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    result.scroll_width, result.inner_width = driver.execute_script(
        "return [document.documentElement.scrollWidth, window.innerWidth]")
    result.probes = {k: driver.execute_script("return " + js)
                     for k, js in (probes or {}).items()}
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(screenshot))
    return result
