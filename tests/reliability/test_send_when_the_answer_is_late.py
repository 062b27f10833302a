"""`client.chat.send` lands once when answers are lost after the server stored the message, and
when requests or answers are late by 2.5 times the client's timeout (issue 11).

Each case sends 200 distinct messages, 25 on each of 8 orders in parallel (one client per order,
a 0.2 s timeout so that 2.5 timeouts cost half a second), while a quarter of the sends meet the
fault; then every message must be stored exactly once. Faults after the handler come from the
development server's own rules (`"when": "after"`); requests that reach the server late come
from a loopback proxy that holds them (`delaying_proxy.py`).
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from delaying_proxy import Delay, DelayingProxy
from reliability_support import CHAT_GLOB, CLOCK, ServeProcess, client_kwargs
from shopper_chat import Client, tutorial

TIMEOUT = 0.2
LATE = 2.5 * TIMEOUT  # the delay the issue asks to survive: 2.5 x the client's timeout
ORDERS, SENDS_PER_ORDER = 8, 25  # 200 sends
SHARE = 0.25


@dataclass
class Tally:
    """What 200 sends left behind: messages stored twice, messages missing, calls that raised."""

    doubled: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    recovered: int = 0

    def __str__(self) -> str:
        return (f"{len(self.doubled)} doubled, {len(self.lost)} lost, {len(self.errors)} "
                f"raised, {self.recovered} recovered by the read-back")


@pytest.fixture(scope="module")
def server() -> Iterator[ServeProcess]:
    serve = ServeProcess(["--seed", "13", "--clock", CLOCK, "--no-shopper"]).start()
    try:
        with Client(serve.base_url, **client_kwargs()) as setup:
            for n in range(ORDERS):
                tutorial.create_order(setup, user_id=f"late-user-{n}", order_id=f"late-{n}")
                tutorial.start_shopping(setup, f"late-{n}", f"late-user-{n}")
        yield serve
    finally:
        serve.stop()


def _send_all(base_url: str, server: ServeProcess, case: str) -> Tally:
    """200 sends through `base_url`; then each order's conversation, read from the server."""
    tally = Tally()
    lock = threading.Lock()

    def talk(n: int) -> None:
        with Client(base_url, **client_kwargs(), timeout=TIMEOUT) as client:
            client.set_user(f"late-user-{n}")
            for i in range(SENDS_PER_ORDER):
                text = f"{case} {n}.{i}"
                try:
                    sent = client.chat.send(f"late-{n}", text)
                except Exception as exc:  # counted, and reported by the assertions
                    with lock:
                        tally.errors.append(f"{text}: {type(exc).__name__}: {exc}")
                    continue
                if sent.recovered:
                    with lock:
                        tally.recovered += 1

    threads = [threading.Thread(target=talk, args=(n,)) for n in range(ORDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    with Client(server.base_url, **client_kwargs()) as reader:
        for n in range(ORDERS):
            reader.set_user(f"late-user-{n}")
            bodies = Counter(m.body for m in reader.chat.messages(f"late-{n}").chat_messages
                             if m.body.startswith(f"{case} "))  # fmt: skip
            for i in range(SENDS_PER_ORDER):
                text = f"{case} {n}.{i}"
                if bodies[text] == 0:
                    tally.lost.append(text)
                elif bodies[text] > 1:
                    tally.doubled.append(text)
    return tally


@contextlib.contextmanager
def _with_fault(server: ServeProcess, **rule: Any) -> Iterator[None]:
    server.add_fault(method="POST", path=CHAT_GLOB, probability=SHARE, when="after", **rule)
    try:
        yield
    finally:
        httpx.delete(f"{server.base_url}/_emulator/faults", timeout=5).raise_for_status()


def _applied(server: ServeProcess) -> int:
    return int(server.faults()[0]["applied"])


def _check(tally: Tally, case: str, met: int) -> None:
    print(f"\n{case}: {tally} ({met} of the requests met the fault)")
    assert met >= 30, f"the fault hardly happened ({met})"
    assert not tally.doubled, f"stored twice: {tally.doubled}"
    assert not tally.lost, f"lost: {tally.lost}"
    assert not tally.errors, tally.errors


def test_answers_dropped_after_the_message_was_stored(server: ServeProcess) -> None:
    with _with_fault(server, drop=True):
        tally = _send_all(server.base_url, server, "rule-dropped-answer")
        met = _applied(server)
    _check(tally, "answers dropped after commit", met)
    assert tally.recovered == met  # each lost answer was found, none sent again


def test_answers_delayed_after_the_message_was_stored(server: ServeProcess) -> None:
    with _with_fault(server, latency_ms=int(LATE * 1000)):
        tally = _send_all(server.base_url, server, "rule-late-answer")
        met = _applied(server)
    _check(tally, f"answers delayed {LATE:.1f} s after commit (fault rule)", met)


def _proxy_decides(where: str, seconds: float, seed: int) -> Callable[[str, str], Delay | None]:
    draw = random.Random(seed)
    lock = threading.Lock()

    def decide(method: str, path: str) -> Delay | None:
        if method != "POST" or not path.startswith("/v2/post_checkout/chat/"):
            return None
        with lock:
            hit = draw.random() < SHARE
        return Delay(where, seconds) if hit else None  # type: ignore[arg-type]

    return decide


@pytest.mark.parametrize("where", ["request", "answer"])
def test_requests_or_answers_late_by_two_and_a_half_timeouts(
    server: ServeProcess, where: str
) -> None:
    with DelayingProxy(server.base_url, _proxy_decides(where, LATE, seed=5)) as proxy:
        tally = _send_all(proxy.base_url, server, f"proxy-late-{where}")
        met = proxy.delayed[where]
    _check(tally, f"{where}s delayed {LATE:.1f} s (proxy)", met)


def test_beyond_the_settling_window_a_request_can_be_stored_twice(server: ServeProcess) -> None:
    """What the README says happens past the window: a request that reaches the server after
    the client looked for 2.5 timeouts and sent again is stored as well."""
    held = [True]

    def decide(method: str, path: str) -> Delay | None:
        if method == "POST" and path.startswith("/v2/post_checkout/chat/") and held:
            held.clear()  # only the first send is held
            return Delay("request", 6 * TIMEOUT + 0.6)
        return None

    with DelayingProxy(server.base_url, decide) as proxy, \
            Client(proxy.base_url, **client_kwargs(), timeout=TIMEOUT) as client:
        client.set_user("late-user-0")
        sent = client.chat.send("late-0", "too late to be found")
        assert not sent.recovered  # not found within the window: sent again, and answered
        threading.Event().wait(6 * TIMEOUT + 1.0)  # until the held request has landed too
        bodies = [m.body for m in client.chat.messages("late-0").chat_messages]
    assert bodies.count("too late to be found") == 2
