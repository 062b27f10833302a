"""Fixtures of the development server's tests."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from devserver_helpers import Api


@pytest.fixture()
def api(devserver: str) -> Iterator[Api]:
    """A client on the session's (reset) development server: seed 7, clock 2026-01-15T17:00Z."""
    with httpx.Client(base_url=devserver, timeout=10) as http:
        yield Api(http)
