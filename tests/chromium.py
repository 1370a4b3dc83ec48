"""Debian's Chromium for the browser tests, driven by Playwright (which never downloads a browser here).

A test module sets `pytestmark = BROWSER_MARKS` and asks for the `browser` fixture (conftest), which
launches it once per module.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"
    ),
    pytest.mark.skipif(
        importlib.util.find_spec("playwright") is None, reason="playwright (test extra) is not installed"
    ),
]


@contextmanager
def chromium() -> Iterator[Any]:
    """A launched headless Chromium (Playwright's `Browser`), closed on exit."""
    from playwright import sync_api

    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield launched
        launched.close()
