"""No token or secret appears in any repr, error message, log line or recording."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from shopper_chat import APIError, ChatPoller, Client, ConnectError, tutorial
from shopper_chat.client.recording import REDACTED, read_recording, redact
from shopper_chat.devserver import DEFAULT_CLIENT_SECRET

CHAT = "/v2/post_checkout/chat/*"


def issued_tokens(client: Client) -> list[str]:
    return [cached.token.get_secret_value() for cached in client._tokens._cache.values()]


def test_a_whole_session_leaks_nothing(
    make_client: Callable[..., Client], add_fault: Callable[..., Any], tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    record = tmp_path / "session.jsonl"
    client = make_client(record_to=record, max_retries=1, sleep=lambda s: None)
    shown: list[str] = [repr(client), str(client), repr(client.chat), repr(vars(client))]
    setup = tutorial.create_order(client)
    shopping = tutorial.start_shopping(client, setup.order_id, setup.user_id)
    client.sandbox.create_shopper(email="z@example.com", password="shopper-password-1")
    client.set_user(setup.user_id)
    client.chat.wait_for_messages(setup.order_id, timeout=10, interval=0.02)
    add_fault(method="POST", path=CHAT, drop=True, times=1)
    client.chat.send(setup.order_id, "Hi, this is Sierra.")
    client.chat.mark_read(setup.order_id)
    poller = ChatPoller(client, setup.order_id, interval=0.01)
    client.sandbox.advance(shopping.batch_id, "checkout")
    events = list(poller)
    shown += [repr(poller), repr(events), repr(client._tokens._cache)]

    failures: list[BaseException] = []
    for call in (
        lambda: client.chat.messages("no-such-order"),
        lambda: make_client(client_secret="a-wrong-secret-9").sandbox.create_shopper(),
        lambda: make_client(client_id=None, client_secret=None,
                            user_token="a-wrong-token-9").chat.messages(setup.order_id),
    ):
        with pytest.raises(APIError) as caught:
            call()
        failures.append(caught.value)
    add_fault(method="GET", path=CHAT, drop=True)
    with pytest.raises(ConnectError) as dropped:
        client.chat.messages(setup.order_id)
    failures.append(dropped.value)
    for error in failures:
        shown += [str(error), repr(error), repr(vars(error)), repr(error.__cause__),
                  repr(error.__context__)]
        context = error.__context__
        if isinstance(context, httpx.HTTPError):
            shown.append(repr(context.request.headers))

    secrets = [DEFAULT_CLIENT_SECRET, "a-wrong-secret-9", "a-wrong-token-9", "shopper-password-1",
               *issued_tokens(client)]
    assert len(secrets) >= 6
    recording = record.read_text(encoding="utf-8")
    everything = "\n".join(shown) + "\n" + caplog.text + "\n" + recording
    for secret in secrets:
        assert secret not in everything
    assert "Bearer " not in recording and "Bearer " not in caplog.text
    retries = [r.getMessage() for r in caplog.records if r.name == "shopper_chat.client"]
    assert any("retry 1 of 1" in line for line in retries), retries

    entries = read_recording(record)
    assert {"time", "method", "path", "status", "duration_ms", "request", "response",
            "attempt", "error"} <= set(entries[0])
    tokens = [e for e in entries if e["path"] == "/v2/oauth/token"]
    assert tokens and all(e["request"]["client_secret"] == REDACTED for e in tokens)
    assert all(e["response"]["access_token"] == REDACTED for e in tokens if e["status"] == 200)
    sends = [e for e in entries if e["method"] == "POST" and "/chat/" in e["path"]]
    assert [e["status"] for e in sends] == [None, 200]
    assert sends[-1]["request"] == {"body": "Hi, this is Sierra.", "image_url": ""}
    assert all(e["duration_ms"] >= 0 for e in entries)


def test_redact_masks_secret_keys_at_any_depth() -> None:
    data = {"client_secret": "x", "nested": [{"Authorization": "Bearer y", "ok": 1}],
            "assertion": "z", "access_token": "t", "keep": "me"}
    assert redact(data) == {"client_secret": REDACTED,
                            "nested": [{"Authorization": REDACTED, "ok": 1}],
                            "assertion": REDACTED, "access_token": REDACTED, "keep": "me"}
