"""A long `ChatPoller` session against a real server with fault rules on: while many shopper
messages (and some customer messages and read marks) arrive, the poller delivers every message
exactly once and in order, and ends with the server's own view of the conversation."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from reliability_support import CHAT_GLOB, CLOCK, ServeProcess, client_kwargs
from shopper_chat import ChatPoller, Client, tutorial
from shopper_chat.client import NewMessage, PollFailed, ReadChanged, Stopped
from shopper_chat.client.errors import ConnectError

SHOPPER_MESSAGES = 120
CUSTOMER_EVERY = 10
USER, ORDER = "soak-customer", "soak-order"


@pytest.fixture()
def server() -> Iterator[ServeProcess]:
    serve = ServeProcess(["--seed", "11", "--clock", CLOCK, "--no-shopper"]).start()
    try:
        yield serve
    finally:
        serve.stop()


def test_poller_delivers_every_message_once_and_in_order_through_faults(
    server: ServeProcess,
) -> None:
    creds = client_kwargs()
    with Client(server.base_url, **creds) as setup:
        tutorial.create_order(setup, user_id=USER, order_id=ORDER)
        tutorial.start_shopping(setup, ORDER, USER)
    for method, path in (("GET", CHAT_GLOB), ("GET", "/v2/post_checkout/orders/*")):
        server.add_fault(method=method, path=path, status=429, retry_after=1, probability=0.03)
        server.add_fault(method=method, path=path, status=429, probability=0.08)
        server.add_fault(method=method, path=path, status=503, probability=0.08)
        server.add_fault(method=method, path=path, drop=True, probability=0.08)
    # Customer sends and read marks meet faults too (bounded, so that a send cannot run out of
    # retries: the client gets more attempts than there are failing draws).
    server.add_fault(method="POST", path=CHAT_GLOB, status=429, probability=0.3, times=3)
    server.add_fault(method="POST", path=CHAT_GLOB, status=503, probability=0.3, times=3)
    # Answers lost after the message was stored: send's read-back finds them.
    server.add_fault(method="POST", path=CHAT_GLOB, drop=True, when="after", probability=0.3,
                     times=3)
    server.add_fault(method="PUT", path=CHAT_GLOB, status=503, probability=0.3, times=3)
    server.add_fault(method="*", path="/v2/*", latency_ms=15, probability=0.3)

    with Client(server.base_url, **creds, timeout=5) as poll_client, \
            Client(server.base_url, **creds, timeout=5, max_retries=12,
                   max_retry_seconds=30) as send_client:
        _session(server, poll_client, send_client)


def _session(server: ServeProcess, poll_client: Client, send_client: Client) -> None:
    poll_client.set_user(USER)
    send_client.set_user(USER)
    poller = ChatPoller(poll_client, ORDER, interval=0.05, max_backoff=0.2, stop_states=(),
                        timeout=120)
    posted: list[str] = []
    sent: list[tuple[int, str]] = []
    problems: list[BaseException] = []

    def converse() -> None:
        try:
            with httpx.Client(base_url=server.base_url, timeout=5) as control:
                for i in range(SHOPPER_MESSAGES):
                    body = f"shopper message {i}"
                    control.post(f"/_emulator/orders/{ORDER}/shopper_messages",
                                 json={"body": body}).raise_for_status()
                    posted.append(body)
                    if i % CUSTOMER_EVERY == CUSTOMER_EVERY - 1:
                        text = f"customer message {i}"
                        sent.append((send_client.chat.send(ORDER, text).id, text))
                        send_client.chat.mark_read(ORDER)
                    time.sleep(0.005)
            expected = len(posted) + len(sent)
            deadline = time.monotonic() + 60
            while len(poller.messages) < expected and time.monotonic() < deadline:
                time.sleep(0.02)
        except (ConnectError, httpx.HTTPError) as exc:  # pragma: no cover - reported below
            problems.append(exc)
        finally:
            poller.stop()

    talker = threading.Thread(target=converse, name="soak-talker")
    talker.start()
    events = list(poller)
    talker.join(timeout=90)
    assert not problems, problems

    new = [e.message for e in events if isinstance(e, NewMessage)]
    ids = [m.id for m in new]
    assert ids == sorted(set(ids)), "a message was delivered twice or out of order"
    assert [m.body for m in new if m.from_shopper] == posted
    assert [(m.id, m.body) for m in new if m.from_customer] == sent
    assert isinstance(events[-1], Stopped) and events[-1].reason == "stopped"
    assert any(isinstance(e, PollFailed) for e in events), "no fault reached the poller"
    assert any(isinstance(e, ReadChanged) for e in events)

    httpx.delete(f"{server.base_url}/_emulator/faults", timeout=5).raise_for_status()
    final = poll_client.chat.messages(ORDER).chat_messages
    assert [m.id for m in final] == ids  # the server has exactly what was delivered
    seen = {m.id: m for m in poller.messages}
    # Read state: what the poller last saw matches the server, except messages read after the
    # poller's last poll (the last read mark may come after it).
    assert all(seen[m.id].read == m.read for m in final if not m.read)
