"""Fixtures shared by every test area: a running development server and a clean environment."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

CONNECT_ENV = (
    "CONNECT_BASE_URL", "CONNECT_CLIENT_ID", "CONNECT_CLIENT_SECRET", "CONNECT_USER_TOKEN"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-slow", action="store_true", default=False,
        help="also run the tests marked slow (long fuzzing and soak runs)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `slow` are skipped unless `--run-slow` is given."""
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def clean_connect_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's own Connect settings."""
    for name in CONNECT_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def devserver_url() -> Iterator[str]:
    """One development server on loopback for the whole session (reset per test by `devserver`)."""
    from shopper_chat.devserver import serve

    with serve(seed=7, clock="2026-01-15T17:00:00Z") as base_url:
        yield base_url


@pytest.fixture()
def devserver(devserver_url: str) -> str:
    """The session's development server, reset to an empty state with a fixed seed and clock."""
    import urllib.request

    # urllib rather than httpx.post: a fresh httpx client loads the CA bundle (~0.3 s per test).
    request = urllib.request.Request(f"{devserver_url}/_emulator/reset", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    return devserver_url


@pytest.fixture()
def client(devserver: str) -> Iterator[Any]:
    """A `shopper_chat.Client` of the reset development server, with its local credentials."""
    from shopper_chat import Client
    from shopper_chat.devserver import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

    with Client(devserver, client_id=DEFAULT_CLIENT_ID, client_secret=DEFAULT_CLIENT_SECRET,
                timeout=5.0) as connect_client:
        yield connect_client
