"""Fixtures for the chat panel's tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from panel_lab import CHROMIUM


@pytest.fixture()
def chromium_path() -> Path:
    """Debian's Chromium, or a one-sentence failure saying how to get it."""
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        pytest.fail(
            "Chromium is missing at /usr/bin/chromium: install it (Debian: apt-get install "
            "chromium, which `make test` does) to run the browser test.",
            pytrace=False,
        )
    return CHROMIUM
