"""`chat.send` stores a message exactly once, even when a failure leaves the outcome open."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from client_support import Shopped, Sleeps
from shopper_chat import APIConnectionError, Client
from shopper_chat.client.recording import read_recording

CHAT = "/v2/post_checkout/chat/*"


def customer_bodies(client: Client, order_id: str) -> list[str]:
    return [m.body for m in client.chat.messages(order_id).chat_messages if m.from_customer]


@pytest.fixture()
def sender(make_client: Callable[..., Client], shopped: Shopped, sleeps: Sleeps,
           tmp_path: Path) -> Client:
    client = make_client(sleep=sleeps, random=lambda: 1.0, record_to=tmp_path / "s.jsonl")
    client.set_user(shopped.user_id)
    client.chat.messages(shopped.order_id)
    return client


def posts(client: Client) -> list[dict[str, Any]]:
    assert client.recording is not None
    return [e for e in read_recording(client.recording)
            if e["method"] == "POST" and "/chat/" in e["path"]]


def test_a_dropped_connection_is_checked_then_sent_once(
    sender: Client, shopped: Shopped, add_fault: Callable[..., Any], sleeps: Sleeps
) -> None:
    add_fault(method="POST", path=CHAT, drop=True, times=1)
    sent = sender.chat.send(shopped.order_id, "Please pick green bananas.")
    assert not sent.recovered
    assert customer_bodies(sender, shopped.order_id) == ["Please pick green bananas."]
    assert [e["status"] for e in posts(sender)] == [None, 200]
    # Read at once, then after each backoff delay, for the settling window (2.5 x the 5 s
    # timeout), the last delay cut to end on it; then sent again.
    assert sleeps.calls == [0.5, 1.0, 2.0, 4.0, 5.0] and sum(sleeps.calls) == 2.5 * 5.0


def test_a_timeout_is_checked_then_sent_once(
    make_client: Callable[..., Client], shopped: Shopped, add_fault: Callable[..., Any],
    tmp_path: Path,
) -> None:
    # The server's latency fault delays the request before it is read; the client gives up,
    # waits its backoff (0.5 s, real), finds nothing stored and sends again.
    client = make_client(timeout=0.3, random=lambda: 1.0, record_to=tmp_path / "t.jsonl")
    client.set_user(shopped.user_id)
    client.chat.messages(shopped.order_id)
    add_fault(method="POST", path=CHAT, latency_ms=500, times=1)
    sent = client.chat.send(shopped.order_id, "Is there any oat milk?")
    assert not sent.recovered
    assert customer_bodies(client, shopped.order_id) == ["Is there any oat milk?"]
    assert [e["status"] for e in posts(client)] == [None, 200]


class LoseFirstAnswer(httpx.HTTPTransport):
    """Passes every request to the real server, but loses the answer of the first chat POST
    (the server has stored the message; the client sees the connection drop). The development
    server's faults all act before the request is handled, so this case needs a transport."""

    def __init__(self) -> None:
        super().__init__()
        self.lost = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.method == "POST" and "/chat/" in request.url.path and not self.lost:
            self.lost += 1
            response.read()
            response.close()
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.",
                                            request=request)
        return response


def test_an_answer_lost_after_the_server_stored_it_is_found_not_sent_again(
    make_client: Callable[..., Client], shopped: Shopped, sleeps: Sleeps
) -> None:
    transport = LoseFirstAnswer()
    client = make_client(sleep=sleeps, transport=transport)
    client.set_user(shopped.user_id)
    client.chat.messages(shopped.order_id)
    sent = client.chat.send(shopped.order_id, "Is there any oat milk?")
    assert transport.lost == 1
    assert sent.recovered and sent.id > 0 and sent.timezone == ""
    stored = [m for m in client.chat.messages(shopped.order_id).chat_messages if m.from_customer]
    assert [(m.id, m.body) for m in stored] == [(sent.id, "Is there any oat milk?")]


@pytest.mark.parametrize(
    ("rule", "looked"),
    [({"status": 500}, True), ({"status": 429, "retry_after": 1}, False),
     ({"status": 503}, False), ({"status": 429}, False)],
)
def test_error_answers_are_resent_once(
    sender: Client, shopped: Shopped, add_fault: Callable[..., Any], rule: dict[str, Any],
    looked: bool,
) -> None:
    add_fault(method="POST", path=CHAT, times=1, **rule)
    assert sender.recording is not None
    before = len(read_recording(sender.recording))
    sender.chat.send(shopped.order_id, "Two avocados, please.")
    assert customer_bodies(sender, shopped.order_id) == ["Two avocados, please."]
    assert [e["status"] for e in posts(sender)] == [rule["status"], 200]
    after = read_recording(sender.recording)[before:]
    checked = any(e["method"] == "GET" for e in after[:-1])
    assert checked is looked  # only an open outcome (500) makes the client look first


def test_the_same_words_sent_twice_on_purpose_are_both_kept(
    sender: Client, shopped: Shopped, add_fault: Callable[..., Any]
) -> None:
    sender.chat.send(shopped.order_id, "ok")
    sender.chat.send(shopped.order_id, "ok")
    add_fault(method="POST", path=CHAT, drop=True, times=1)
    sender.chat.send(shopped.order_id, "ok")
    assert customer_bodies(sender, shopped.order_id) == ["ok", "ok", "ok"]


def test_an_image_alone_is_sent_once(
    sender: Client, shopped: Shopped, add_fault: Callable[..., Any]
) -> None:
    add_fault(method="POST", path=CHAT, drop=True, times=1)
    sender.chat.send(shopped.order_id, image_url="https://images.example/label.jpg")
    images = [m.image for m in sender.chat.messages(shopped.order_id).chat_messages
              if m.from_customer]
    assert images == ["https://images.example/label.jpg"]


def test_when_every_attempt_fails_the_error_is_raised_and_nothing_doubled(
    make_client: Callable[..., Client], shopped: Shopped, add_fault: Callable[..., Any],
    sleeps: Sleeps,
) -> None:
    client = make_client(sleep=sleeps, max_retries=2)
    client.set_user(shopped.user_id)
    client.chat.messages(shopped.order_id)
    add_fault(method="POST", path=CHAT, drop=True)
    with pytest.raises(APIConnectionError):
        client.chat.send(shopped.order_id, "Hello?")
    # Three attempts (the first and max_retries=2 more), each followed by a settling window.
    assert sum(sleeps.calls) == pytest.approx(3 * 2.5 * 5.0)
    assert customer_bodies(client, shopped.order_id) == []


def test_a_send_without_any_earlier_read_still_lands_once(
    make_client: Callable[..., Client], shopped: Shopped, add_fault: Callable[..., Any],
    sleeps: Sleeps,
) -> None:
    client = make_client(sleep=sleeps)  # has never read this conversation
    client.set_user(shopped.user_id)
    add_fault(method="POST", path=CHAT, drop=True, times=1)
    client.chat.send(shopped.order_id, "First words")
    assert customer_bodies(client, shopped.order_id) == ["First words"]
