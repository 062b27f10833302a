"""Access tokens: fetched once, cached, renewed before expiry and once after a 401."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from client_support import Shopped
from shopper_chat import AuthenticationError, Client
from shopper_chat.client._auth import user_assertion
from shopper_chat.client.recording import read_recording

TOKEN = "/v2/oauth/token"


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def token_requests(client: Client) -> list[dict[str, Any]]:
    assert client.recording is not None
    return [e for e in read_recording(client.recording) if e["path"] == TOKEN]


@pytest.fixture()
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture()
def recorded(make_client: Callable[..., Client], clock: ManualClock, tmp_path: Path) -> Client:
    return make_client(clock=clock, record_to=tmp_path / "auth.jsonl")


def test_the_user_assertion_is_base64_of_the_user_id() -> None:
    assert json.loads(base64.b64decode(user_assertion("kamalsingh1234"))) == {
        "user_id": "kamalsingh1234"}


def test_each_token_is_fetched_once_and_reused(recorded: Client, shopped: Shopped) -> None:
    for _ in range(3):
        recorded.sandbox.create_shopper()
    recorded.set_user(shopped.user_id)
    for _ in range(3):
        recorded.chat.messages(shopped.order_id)
        recorded.orders.get(shopped.order_id)
    grants = [e["request"]["grant_type"] for e in token_requests(recorded)]
    assert grants == ["client_credentials", "fulfillment_user_assertion"]
    user_grant = token_requests(recorded)[1]["request"]
    assert user_grant["scope"] == "connect:post_checkout"
    assert user_grant["assertion"] == "[REDACTED]"


def test_a_token_is_renewed_before_it_expires(
    recorded: Client, clock: ManualClock
) -> None:
    recorded.sandbox.create_shopper()
    clock.now += 86400 - 61  # just outside the renewal margin (60 s)
    recorded.sandbox.create_shopper()
    assert len(token_requests(recorded)) == 1
    clock.now += 2  # inside the margin: renewed before the server would refuse it
    recorded.sandbox.create_shopper()
    assert len(token_requests(recorded)) == 2


def test_a_401_renews_the_token_once(
    recorded: Client, shopped: Shopped, control: Callable[..., Any]
) -> None:
    recorded.set_user(shopped.user_id)
    recorded.orders.get(shopped.order_id)
    control("clock", advance_seconds=86400 + 5)  # the server says the token has expired
    assert recorded.orders.get(shopped.order_id).workflow_state == "picking"
    statuses = [(e["path"].startswith("/v2/post_checkout"), e["status"])
                for e in read_recording(recorded.recording or "")]
    assert statuses[-3:] == [(True, 401), (False, 200), (True, 200)]


def test_a_token_the_server_forgot_is_replaced(recorded: Client, devserver: str) -> None:
    recorded.sandbox.create_shopper()
    httpx.post(f"{devserver}/_emulator/reset", timeout=10).raise_for_status()
    assert recorded.sandbox.create_shopper().id > 0
    assert len(token_requests(recorded)) == 2


def test_a_ready_user_token_is_used_as_is_and_never_renewed(
    make_client: Callable[..., Client], client: Client, shopped: Shopped,
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    ready = client._tokens.user_token(shopped.user_id).get_secret_value()
    monkeypatch.setenv("CONNECT_USER_TOKEN", ready)
    only_token = make_client(client_id=None, client_secret=None, record_to=tmp_path / "u.jsonl")
    assert only_token.chat.messages(shopped.order_id).chat_messages
    assert only_token.orders.get(shopped.order_id).workflow_state == "picking"
    assert token_requests(only_token) == []
    broken = make_client(client_id=None, client_secret=None, user_token="expired-or-wrong")
    with pytest.raises(AuthenticationError):
        broken.chat.messages(shopped.order_id)
