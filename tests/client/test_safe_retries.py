"""Retries of safe calls, with faults injected through the development server's control plane.

The backoff's sleep is injected (it records instead of waiting), so the schedule is checked
without spending the time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from client_support import Shopped, Sleeps
from shopper_chat import (
    APIConnectionError,
    APITimeoutError,
    Client,
    RateLimitError,
    ServerError,
)
from shopper_chat.client.recording import read_recording

ORDERS = "/v2/post_checkout/orders/*"
CHAT = "/v2/post_checkout/chat/*"


@pytest.fixture()
def retrying(make_client: Callable[..., Client], shopped: Shopped, sleeps: Sleeps,
             tmp_path: Path) -> Client:
    client = make_client(sleep=sleeps, random=lambda: 1.0, max_retries=4,
                         max_retry_seconds=30.0, record_to=tmp_path / "session.jsonl")
    client.set_user(shopped.user_id)
    client.orders.get(shopped.order_id)  # tokens fetched before any fault
    return client


def attempts(client: Client, method: str, path_part: str) -> list[dict[str, Any]]:
    assert client.recording is not None
    return [e for e in read_recording(client.recording)
            if e["method"] == method and path_part in e["path"]]


def test_429_with_retry_after_waits_what_the_server_says(
    retrying: Client, shopped: Shopped, add_fault: Callable[..., Any], sleeps: Sleeps
) -> None:
    add_fault(method="GET", path=ORDERS, status=429, retry_after=2, times=2)
    assert retrying.orders.get(shopped.order_id).workflow_state == "picking"
    assert sleeps.calls == [2.0, 2.0]
    statuses = [e["status"] for e in attempts(retrying, "GET", "/orders/")]
    assert statuses[-3:] == [429, 429, 200]


def test_429_without_retry_after_backs_off_exponentially_with_jitter(
    make_client: Callable[..., Client], shopped: Shopped, add_fault: Callable[..., Any],
    sleeps: Sleeps,
) -> None:
    draws = iter([0.0, 1.0, 0.5])
    client = make_client(sleep=sleeps, random=lambda: next(draws))
    client.set_user(shopped.user_id)
    add_fault(method="GET", path=ORDERS, status=429, times=3)
    client.orders.get(shopped.order_id)
    # 0.5 s, 1 s, 2 s ceilings, each scaled into [50%, 100%] by the draw.
    assert sleeps.calls == [0.25, 1.0, 1.5]


def test_503_and_dropped_connections_are_retried(
    retrying: Client, shopped: Shopped, add_fault: Callable[..., Any], sleeps: Sleeps
) -> None:
    add_fault(method="GET", path=CHAT, status=503, times=1)
    add_fault(method="GET", path=CHAT, drop=True, times=2)
    conversation = retrying.chat.messages(shopped.order_id)
    assert conversation.chat_messages
    assert len(sleeps.calls) == 3
    errors = [e["error"] for e in attempts(retrying, "GET", "/chat/") if e["status"] is None]
    assert len(errors) == 2 and all("no answer" in e for e in errors)


def test_a_slow_answer_times_out_and_is_retried(
    make_client: Callable[..., Client], shopped: Shopped, add_fault: Callable[..., Any],
    sleeps: Sleeps,
) -> None:
    client = make_client(sleep=sleeps, timeout=0.3)
    client.set_user(shopped.user_id)
    client.orders.get(shopped.order_id)
    add_fault(method="GET", path=ORDERS, latency_ms=800, times=1)
    assert client.orders.get(shopped.order_id).workflow_state == "picking"
    assert len(sleeps.calls) == 1


def test_other_5xx_are_not_retried(
    retrying: Client, shopped: Shopped, add_fault: Callable[..., Any], sleeps: Sleeps
) -> None:
    add_fault(method="GET", path=ORDERS, status=500, times=1)
    with pytest.raises(ServerError) as caught:
        retrying.orders.get(shopped.order_id)
    assert caught.value.status_code == 500 and sleeps.calls == []


def test_retries_are_bounded_in_count(
    retrying: Client, shopped: Shopped, add_fault: Callable[..., Any], sleeps: Sleeps
) -> None:
    add_fault(method="GET", path=ORDERS, status=429)
    with pytest.raises(RateLimitError) as caught:
        retrying.orders.get(shopped.order_id)
    assert caught.value.code == 2003
    assert len(sleeps.calls) == 4
    assert len([e for e in attempts(retrying, "GET", "/orders/") if e["status"] == 429]) == 5


def test_retries_are_bounded_in_total_time(
    make_client: Callable[..., Client], shopped: Shopped, add_fault: Callable[..., Any],
    sleeps: Sleeps,
) -> None:
    client = make_client(sleep=sleeps, max_retries=10, max_retry_seconds=25.0)
    client.set_user(shopped.user_id)
    client.orders.get(shopped.order_id)
    add_fault(method="GET", path=ORDERS, status=503, retry_after=10)
    with pytest.raises(ServerError):
        client.orders.get(shopped.order_id)
    assert sleeps.calls == [10.0, 10.0]


def test_no_retries_when_asked(
    make_client: Callable[..., Client], shopped: Shopped, add_fault: Callable[..., Any],
    sleeps: Sleeps,
) -> None:
    client = make_client(sleep=sleeps, max_retries=0)
    client.set_user(shopped.user_id)
    add_fault(method="GET", path=CHAT, drop=True, times=1)
    with pytest.raises(APIConnectionError) as caught:
        client.chat.messages(shopped.order_id)
    assert not isinstance(caught.value, APITimeoutError)
    assert caught.value.method == "GET" and sleeps.calls == []


def test_mark_read_and_token_requests_are_retried(
    make_client: Callable[..., Client], shopped: Shopped, add_fault: Callable[..., Any],
    sleeps: Sleeps,
) -> None:
    client = make_client(sleep=sleeps, random=lambda: 1.0)
    add_fault(method="POST", path="/v2/oauth/token", status=429, times=1)
    client.set_user(shopped.user_id)
    add_fault(method="PUT", path=CHAT, status=503, times=1)
    assert client.chat.mark_read(shopped.order_id) >= 1
    assert sleeps.calls == [0.5, 0.5]


def test_a_post_is_retried_only_when_the_server_surely_did_not_act(
    retrying: Client, add_fault: Callable[..., Any], sleeps: Sleeps, devserver: str,
) -> None:
    shoppers = "/v2/fulfillment_sandbox/shoppers"
    add_fault(method="POST", path=shoppers, status=429, times=1)
    assert retrying.sandbox.create_shopper().id > 0
    assert len(sleeps.calls) == 1
    # A dropped connection leaves it open whether the shopper was created: no blind retry.
    add_fault(method="POST", path=shoppers, drop=True, times=1)
    with pytest.raises(APIConnectionError) as caught:
        retrying.sandbox.create_shopper()
    assert caught.value.may_have_arrived
    assert len(sleeps.calls) == 1
    assert len([e for e in attempts(retrying, "POST", shoppers) if e["status"] is None]) == 1
