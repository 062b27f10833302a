"""The chat poller against the development server: events, stop conditions, backoff, faults."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from client_support import Shopped, Sleeps
from shopper_chat import (
    ChatPoller,
    Client,
    NewMessage,
    NotFoundError,
    PollFailed,
    ReadChanged,
    StateChanged,
    Stopped,
    WaitTimeout,
)

CHAT = "/v2/post_checkout/chat/*"


def shopper_says(devserver: str, order_id: str, body: str) -> int:
    answer = httpx.post(f"{devserver}/_emulator/orders/{order_id}/shopper_messages",
                        json={"body": body}, timeout=5)
    answer.raise_for_status()
    message_id: int = answer.json()["id"]
    return message_id


class FakeClock:
    """A monotonic clock moved by the injected sleep."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_new_messages_once_each_then_read_changes(
    client: Client, shopped: Shopped, devserver: str
) -> None:
    poller = ChatPoller(client, shopped.order_id, interval=0.01, watch_state=False)
    first = [e for e in poller.poll_once() if isinstance(e, NewMessage)]
    assert first and first[0].message.from_shopper
    assert poller.poll_once() == []  # nothing new: nothing reported
    later = shopper_says(devserver, shopped.order_id, "Found everything so far.")
    events = poller.poll_once()
    assert [e.message.id for e in events if isinstance(e, NewMessage)] == [later]
    client.chat.mark_read(shopped.order_id)
    reads = poller.poll_once()
    assert reads and all(isinstance(e, ReadChanged) and e.message.read for e in reads)
    assert {e.message.id for e in reads if isinstance(e, ReadChanged)} == {
        m.id for m in poller.messages if m.from_shopper}
    assert all(m.read for m in poller.messages if m.from_shopper)
    assert poller.state == "live"


def test_stop_from_another_thread_ends_the_loop_at_once(client: Client, shopped: Shopped) -> None:
    poller = ChatPoller(client, shopped.order_id, interval=30.0)
    events: list[Any] = []
    worker = threading.Thread(target=lambda: events.extend(poller))
    worker.start()
    deadline = time.monotonic() + 10
    while not events and time.monotonic() < deadline:
        time.sleep(0.01)
    poller.stop()
    worker.join(timeout=5)
    assert not worker.is_alive(), "stop() did not interrupt the wait"
    assert events[-1] == Stopped("stopped", "polling was stopped")
    assert poller.state == "stopped"


def test_timeout_with_an_injected_clock_and_sleep(client: Client, shopped: Shopped) -> None:
    clock = FakeClock()
    poller = ChatPoller(client, shopped.order_id, interval=2.0, timeout=5.0, sleep=clock.sleep,
                        clock=clock)
    events = list(poller)
    assert events[-1].kind == "stopped" and events[-1].reason == "timeout"
    assert clock.sleeps == [2.0, 2.0, 1.0]
    assert sum(isinstance(e, StateChanged) for e in events) == 1


def test_an_expired_chat_stops_the_poller(
    client: Client, shopped: Shopped, control: Callable[..., Any]
) -> None:
    client.sandbox.advance(shopped.batch_id, "completed")
    control("clock", advance_seconds=25 * 3600)
    poller = ChatPoller(client, shopped.order_id, stop_states=(), interval=0.01)
    events = poller.poll_once()
    assert StateChanged(None, "delivered") in events
    assert events[-1] == Stopped("expired", "the chat has expired")
    assert client.chat.messages(shopped.order_id).is_expired


def test_an_unknown_order_ends_polling_with_the_error(client: Client, shopped: Shopped) -> None:
    poller = ChatPoller(client, "no-such-order", interval=0.01)
    (event,) = list(poller)
    assert isinstance(event, Stopped) and event.reason == "error"
    assert isinstance(poller.error, NotFoundError) and "Resource not found" in event.detail


def test_backoff_doubles_while_the_server_errs_and_honours_retry_after(
    client: Client, shopped: Shopped, add_fault: Callable[..., Any]
) -> None:
    poller = ChatPoller(client, shopped.order_id, interval=1.0, max_backoff=5.0,
                        watch_state=False)
    add_fault(method="GET", path=CHAT, status=503, times=4)
    retry_in = []
    for _ in range(4):
        (event,) = poller.poll_once()
        assert isinstance(event, PollFailed) and poller.state == "backing_off"
        retry_in.append(event.retry_in)
    assert retry_in == [2.0, 4.0, 5.0, 5.0]
    add_fault(method="GET", path=CHAT, status=429, retry_after=3, times=1)
    (event,) = poller.poll_once()
    assert isinstance(event, PollFailed) and event.retry_in == 3.0
    assert event.error.status_code == 429
    assert any(isinstance(e, NewMessage) for e in poller.poll_once())
    assert poller.state == "live"


def test_every_message_exactly_once_and_in_order_through_faults(
    make_client: Callable[..., Client], shopped: Shopped, add_fault: Callable[..., Any],
    clear_faults: Callable[[], None], devserver: str, sleeps: Sleeps,
) -> None:
    client = make_client(timeout=0.3, max_retries=0)
    client.set_user(shopped.user_id)
    poller = ChatPoller(client, shopped.order_id, interval=0.01, watch_state=False,
                        sleep=sleeps)
    add_fault(method="GET", path=CHAT, status=429, retry_after=1, probability=0.25)
    add_fault(method="GET", path=CHAT, status=429, probability=0.2)
    add_fault(method="GET", path=CHAT, status=503, probability=0.2)
    add_fault(method="GET", path=CHAT, drop=True, probability=0.2)
    add_fault(method="GET", path=CHAT, latency_ms=500, probability=0.1)
    delivered: list[int] = []
    failures: list[PollFailed] = []
    posted: list[int] = []
    for i in range(30):
        if i % 3 == 0:
            posted.append(shopper_says(devserver, shopped.order_id, f"update {i}"))
        for event in poller.poll_once():
            if isinstance(event, NewMessage):
                delivered.append(event.message.id)
            elif isinstance(event, PollFailed):
                failures.append(event)
    clear_faults()
    for event in poller.poll_once():
        if isinstance(event, NewMessage):
            delivered.append(event.message.id)
    on_server = [m.id for m in client.chat.messages(shopped.order_id).chat_messages]
    assert delivered == on_server, "each message once, in the server's order"
    assert set(posted) <= set(delivered)
    kinds = {type(f.error).__name__ for f in failures}
    assert {"RateLimitError", "ServerError"} <= kinds
    assert kinds & {"APIConnectionError", "APITimeoutError"}
    assert any(f.retry_in == 1.0 and f.error.status_code == 429 for f in failures)


def test_wait_for_messages_returns_new_shopper_messages_only(
    client: Client, shopped: Shopped, devserver: str
) -> None:
    greeting = client.chat.wait_for_messages(shopped.order_id, timeout=10, interval=0.02)
    assert greeting and all(m.from_shopper for m in greeting)
    with pytest.raises(WaitTimeout):
        client.chat.wait_for_messages(shopped.order_id, timeout=0.3, interval=0.05)
    first = shopper_says(devserver, shopped.order_id, "One")
    second = shopper_says(devserver, shopped.order_id, "Two")
    got = client.chat.wait_for_messages(shopped.order_id, count=2, timeout=10, interval=0.02)
    assert [m.id for m in got] == [first, second]


def test_wait_for_messages_on_an_unknown_order_raises_the_api_error(client: Client,
                                                                    shopped: Shopped) -> None:
    with pytest.raises(NotFoundError):
        client.chat.wait_for_messages("no-such-order", timeout=5, interval=0.02)


def test_the_poller_never_prints(
    client: Client, shopped: Shopped, add_fault: Callable[..., Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    add_fault(method="GET", path=CHAT, status=503, times=2)
    clock = FakeClock()
    list(ChatPoller(client, shopped.order_id, interval=1.0, timeout=6.0, sleep=clock.sleep,
                    clock=clock))
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_wait_for_messages_knows_the_shopper_by_the_metadata_when_sender_type_is_empty() -> None:
    # A real server may leave the sender types empty (the tutorial's own example does): the ids in
    # the conversation's metadata then tell the shopper's greeting from the customer's message.
    def message(id_: int, sender: str, body: str) -> dict[str, Any]:
        return {"id": id_, "order_id": 1, "created_at": "2021-07-09T17:24:12Z", "read": False,
                "sender_id": sender, "sender_type": "", "recipient_id": "", "recipient_type": "",
                "read_at": None, "body": body, "image": ""}

    conversation = {
        "chat_messages": [message(1, "789012", "Hi from the customer"),
                          message(2, "23728249", "Hi, this is Zelma")],
        "metadata": {"customer": {"id": 789012, "display_name": "Sierra"},
                     "shoppers": [{"id": 23728249, "display_name": "Zelma", "avatar_url": ""}]},
    }

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=conversation)

    with Client("http://connect.test", user_token="t",
                transport=httpx.MockTransport(answer)) as offline:
        (greeting,) = offline.chat.wait_for_messages("order-1", timeout=5)
    with Client("http://connect.test", user_token="t",
                transport=httpx.MockTransport(answer)) as offline:
        (asked,) = offline.chat.wait_for_messages("order-1", sender_type="user", timeout=5)
    assert greeting.body == "Hi, this is Zelma"
    assert asked.body == "Hi from the customer"


def test_chat_messages_reuses_unchanged_messages_as_the_poller_does(
    client: Client, shopped: Shopped, devserver: str
) -> None:
    shopper_says(devserver, shopped.order_id, "found the limes")
    first = client.chat.messages(shopped.order_id).chat_messages
    shopper_says(devserver, shopped.order_id, "and the avocados")
    second = client.chat.messages(shopped.order_id).chat_messages
    assert len(second) == len(first) + 1
    assert all(a is b for a, b in zip(first, second[:-1], strict=True))  # parsed once, not again
    client.chat.mark_read(shopped.order_id)
    third = client.chat.messages(shopped.order_id).chat_messages
    # A message whose read state moved is read again: the answer is what the server says.
    drivers = [(a, b) for a, b in zip(second, third, strict=True) if a.sender_type == "driver"]
    assert drivers and all(b.read and not a.read and b is not a for a, b in drivers)
