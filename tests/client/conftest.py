"""Fixtures for the client's tests: an order being shopped, fault rules, a recording client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from client_support import Shopped, Sleeps
from shopper_chat import Client, tutorial

CHAT_GLOB = "/v2/post_checkout/chat/*"


@pytest.fixture()
def shopped(client: Client) -> Shopped:
    setup = tutorial.create_order(client)
    shopping = tutorial.start_shopping(client, setup.order_id, setup.user_id)
    client.set_user(setup.user_id)
    return Shopped(setup.user_id, setup.order_id, shopping.shopper_id, shopping.batch_id)


@pytest.fixture()
def add_fault(devserver: str) -> Callable[..., dict[str, Any]]:
    """Add a fault rule through the control plane (cleared by the next reset)."""

    def add(**rule: Any) -> dict[str, Any]:
        answer = httpx.post(f"{devserver}/_emulator/faults", json=rule, timeout=10)
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result

    return add


@pytest.fixture()
def clear_faults(devserver: str) -> Callable[[], None]:
    def clear() -> None:
        httpx.delete(f"{devserver}/_emulator/faults", timeout=10).raise_for_status()

    return clear


@pytest.fixture()
def control(devserver: str) -> Callable[..., Any]:
    """POST to the control plane: `control("clock", advance_seconds=60)`."""

    def post(route: str, **body: Any) -> Any:
        answer = httpx.post(f"{devserver}/_emulator/{route}", json=body, timeout=10)
        answer.raise_for_status()
        return answer.json()

    return post


@pytest.fixture()
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture()
def make_client(devserver: str) -> Iterator[Callable[..., Client]]:
    """Build more clients of the development server (closed at the end)."""
    from shopper_chat.devserver import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

    made: list[Client] = []

    def make(**kwargs: Any) -> Client:
        kwargs.setdefault("client_id", DEFAULT_CLIENT_ID)
        kwargs.setdefault("client_secret", DEFAULT_CLIENT_SECRET)
        kwargs.setdefault("timeout", 5.0)
        made.append(Client(devserver, **kwargs))
        return made[-1]

    yield make
    for c in made:
        c.close()
