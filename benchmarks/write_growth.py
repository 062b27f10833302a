"""Benchmark 5: how the cost of a write grows with the conversation (100 and 10,000 messages).

    .venv/bin/python benchmarks/write_growth.py [--sizes 100 10000] [--repeat 30]

Three writes, each over loopback HTTP against a development server in this process (frozen
clock), timed as the client sees them:
- *POST*: a customer message (`POST /v2/post_checkout/chat/{order_id}/messages`, shopper off);
- *PUT read*: mark read (`PUT /v2/post_checkout/chat/{order_id}/messages`), with one new shopper
  message to mark each time (posted untimed through the control plane just before);
- *reply*: the scripted shopper's answer to a customer message (it marks the customer's messages
  read, then posts its reply). The shopper is switched on through the control plane
  (`PUT /_emulator/shopper`); the customer's message is posted untimed, and the reply runs, on
  the frozen clock, at the start of the next request: the timed request is an order-status GET
  (`GET /v2/post_checkout/orders/{order_id}`), and *status* is the same GET with nothing due, for
  comparison.

The conversation is filled through the server's backend object (3 of 4 messages from the shopper),
much faster than 10,000 requests; one mark-read and one reply are made untimed first, so that the
timed writes change a few rows each, as a chat in use does. Medians in ms; the last column is the
growth from the first size to the last.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import httpx
from shopper_chat import Client, tutorial
from shopper_chat.devserver import start


def _median_ms(fn: Callable[[], Any], before: Callable[[], Any], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        before()
        began = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - began)
    return statistics.median(samples) * 1000


def main() -> None:
    from _common import CLOCK, CREDENTIALS, machine, user_token

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 10000])
    parser.add_argument("--repeat", type=int, default=30)
    options = parser.parse_args()
    print(f"machine: {machine()}\n")
    server = start(seed=7, clock=CLOCK, shopper=False)
    backend = server.backend
    rows: list[tuple[int, float, float, float, float]] = []
    try:
        client = Client(server.base_url, **CREDENTIALS, timeout=30)
        for size in options.sizes:
            user, order = f"write-customer-{size}", f"write-order-{size}"
            tutorial.create_order(client, user_id=user, order_id=order)
            tutorial.start_shopping(client, order, user)
            token = user_token(server.base_url, user)
            caller = backend.authenticate(token)
            began = time.perf_counter()
            for i in range(size):
                if i % 4 == 3:
                    backend.create_message(caller, order, False, f"customer message {i}", "")
                else:
                    backend.post_shopper_message(order, f"shopper message {i}: found it", "")
            fill = time.perf_counter() - began
            chat = f"/v2/post_checkout/chat/{order}/messages"
            auth = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=server.base_url, headers=auth, timeout=30) as http:

                def shopper_message(o: str = order) -> None:
                    http.post(f"/_emulator/orders/{o}/shopper_messages",
                              json={"body": "one more thing"}).raise_for_status()

                def customer_message(p: str = chat, body: str = "see you soon") -> None:
                    http.post(p, json={"body": body}).raise_for_status()

                def mark_read(p: str = chat) -> None:
                    http.put(p).raise_for_status()

                def status(o: str = order) -> None:
                    http.get(f"/v2/post_checkout/orders/{o}").raise_for_status()

                def nothing() -> None:
                    pass

                mark_read()  # the fill's unread messages: not what a chat in use marks
                post_ms = _median_ms(customer_message, nothing, options.repeat)
                read_ms = _median_ms(mark_read, shopper_message, options.repeat)
                status_ms = _median_ms(status, nothing, options.repeat)
                http.put("/_emulator/shopper", json={"enabled": True}).raise_for_status()
                customer_message(body="thanks")
                status()  # the first reply marks the fill's customer messages read
                reply_ms = _median_ms(status, lambda: customer_message(body="thanks"),
                                      options.repeat)
                http.put("/_emulator/shopper", json={"enabled": False}).raise_for_status()
            rows.append((size, post_ms, read_ms, reply_ms, status_ms))
            print(f"{size} messages (filled in {fill:.1f} s) measured", flush=True)
        client.close()
    finally:
        server.stop()
    _print(rows)


def _print(rows: list[tuple[int, float, float, float, float]]) -> None:
    print("\nMedians in ms: POST = customer message; PUT read = mark one shopper message read; "
          "reply = the request\nduring which the scripted shopper answers (marks read + posts); "
          "status = the same request with nothing due.\n")
    print(f"{'messages':>9}{'POST':>9}{'PUT read':>10}{'reply':>9}{'status':>9}")
    for size, post, read, reply, status in rows:
        print(f"{size:>9}{post:>9.2f}{read:>10.2f}{reply:>9.2f}{status:>9.2f}")
    first, last = rows[0], rows[-1]
    print(f"\ngrowth from {first[0]} to {last[0]} messages: POST x{last[1] / first[1]:.2f}, "
          f"PUT read x{last[2] / first[2]:.2f}, reply x{last[3] / first[3]:.2f}, "
          f"status x{last[4] / first[4]:.2f}")


if __name__ == "__main__":
    main()
