"""Benchmark 2: how the cost of one poll grows with the conversation (10 to 10,000 messages).

    .venv/bin/python benchmarks/poll_growth.py [--sizes 10 100 1000 10000]

For each size, beside the size of the JSON:
- server: the CPU time of the server's thread per chat GET (its whole stack: HTTP parsing,
  middleware, route, backend, JSON rendering), and the whole GET over loopback HTTP as the client
  sees it;
- client: `ChatPoller.poll_once()` and `client.chat.messages()` (column *messages()*) each finding
  exactly one new message; the poll, split into the GET round trip,
  `json.loads`, building the typed `Conversation` (the contract's pydantic model, read through the
  poller's `MessageCache`, so messages seen before are not validated again: column *parse*)
  and the rest (the poller's diff); and, for comparison, validating the whole conversation with
  pydantic on every poll (`Conversation.model_validate`, no cache: column *no cache*);
- panel: a poll's one new message applied to the chat panel (`ChatModel` alone, and with the
  ipywidgets `ChatPanel` view subscribed), through `_apply_message_events` (what the poll loop
  does with each poll's `NewMessage`/`ReadChanged` events); and the first load of a conversation
  as the panel does it: its poller's first poll, every message reported new, in one
  `_apply_message_events` call.

The server runs in this process (`shopper_chat.devserver.start`, in its own thread) so that its
CPU time can be read apart from the client's; the conversation is filled through the server's
backend object, which is much faster than 10,000 requests. Timings are medians of several
repetitions (the server's CPU time: the mean over the same GETs).
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
from shopper_chat import ChatPoller, Client, tutorial
from shopper_chat.client import Conversation, NewMessage
from shopper_chat.client._parse import MessageCache
from shopper_chat.devserver import start


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def _timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - began)
    return samples


def main() -> None:
    from _common import CLOCK, CREDENTIALS, machine, user_token

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000, 10000])
    options = parser.parse_args()
    print(f"machine: {machine()}\n")
    server = start(seed=7, clock=CLOCK, shopper=False)
    backend = server.backend
    # The server's whole stack (HTTP parsing, middleware, route, backend, rendering) runs in its
    # own thread: its CPU time per GET is the server's cost, whatever the handler does inside.
    thread = next(t for t in threading.enumerate() if t.name == "shopper-chat-devserver")
    assert thread.ident is not None
    server_clock = time.pthread_getcpuclockid(thread.ident)
    rows = []
    try:
        client = Client(server.base_url, **CREDENTIALS, timeout=30)
        for size in options.sizes:
            user, order = f"growth-customer-{size}", f"growth-order-{size}"
            tutorial.create_order(client, user_id=user, order_id=order)
            tutorial.start_shopping(client, order, user)
            client.set_user(user)
            token = user_token(server.base_url, user)  # for the raw GETs
            caller = backend.authenticate(token)
            for i in range(size):
                if i % 4 == 3:
                    backend.create_message(caller, order, False, f"customer message {i}", "")
                else:
                    backend.post_shopper_message(order, f"shopper message {i}: found it", "")
            repeat = 30 if size <= 1000 else 8
            path = f"/v2/post_checkout/chat/{order}/messages"

            with httpx.Client(base_url=server.base_url,
                              headers={"Authorization": f"Bearer {token}"}) as http:
                body = http.get(path).content
                cpu_before = time.clock_gettime(server_clock)
                roundtrip_ms = _median_ms(_timed(lambda p=path: http.get(p).content, repeat))
                server_ms = (time.clock_gettime(server_clock) - cpu_before) / repeat * 1000
            loads_ms = _median_ms(_timed(lambda b=body: json.loads(b), repeat))
            data = json.loads(body)
            known = MessageCache()  # as the poller parses: every message seen before
            known.conversation(data)
            model_ms = _median_ms(_timed(lambda d=data, k=known: k.conversation(d), repeat))
            uncached_ms = _median_ms(
                _timed(lambda d=data: Conversation.model_validate(d), repeat))

            poller = ChatPoller(client, order, interval=1.0, watch_state=False, stop_states=())
            poller.poll_once()
            polls = []
            for i in range(repeat):
                backend.post_shopper_message(order, f"one more {i}", "")
                began = time.perf_counter()
                events = poller.poll_once()
                polls.append(time.perf_counter() - began)
                assert [type(e) for e in events] == [NewMessage], events
            poll_ms = _median_ms(polls)
            calls = []  # client.chat.messages() after one new message, as a poll finds it
            client.chat.messages(order)
            for i in range(repeat):
                backend.post_shopper_message(order, f"and one more {i}", "")
                began = time.perf_counter()
                client.chat.messages(order)
                calls.append(time.perf_counter() - began)
            messages_ms = _median_ms(calls)
            rest_ms = poll_ms - roundtrip_ms - loads_ms - model_ms

            panel = _panel_costs(client, order, size, repeat)
            rows.append((size, len(body), server_ms, roundtrip_ms, poll_ms, loads_ms, model_ms,
                         rest_ms, *panel, uncached_ms, messages_ms))
            print(f"{size} messages measured", flush=True)
        client.close()
    finally:
        server.stop()
    _print(rows)


def _panel_costs(client: Client, order: str, size: int, repeat: int) -> tuple[float, ...]:
    """Median ms to apply a poll's one new message: model alone, model + widget; first load."""
    from shopper_chat.panel import ChatModel, ChatPanel

    conversation = client.chat.messages(order)
    messages = list(conversation.chat_messages)
    template = messages[-1]
    results = []
    for with_widget in (False, True):
        if with_widget:
            panel = ChatPanel(client, order)
            model = panel.model
        else:
            model = ChatModel(client, order)
        model._apply_metadata(conversation.metadata)  # as the first poll does: the names
        model._apply_messages(messages)  # the whole conversation at once
        next_id = template.id + 1
        samples = []
        for _ in range(repeat):
            message = _copy(template, next_id)
            next_id += 1
            began = time.perf_counter()
            model._apply_message_events([NewMessage(message)])
            samples.append(time.perf_counter() - began)
        results.append(_median_ms(samples))
        if with_widget:
            panel.close()
    # The first load as the panel does it (the GET itself is measured above): its poller's first
    # poll, which reports the metadata and then every message as new, applied in one call.
    panel = ChatPanel(client, order)
    panel.model._apply_metadata(conversation.metadata)
    first_poll = [NewMessage(message) for message in messages]
    began = time.perf_counter()
    panel.model._apply_message_events(first_poll)
    first_load = time.perf_counter() - began
    panel.close()
    results.append(first_load * 1000)
    results.append(float(len(messages)))
    return tuple(results)


def _copy(message: Any, new_id: int) -> Any:
    return message.model_copy(update={"id": new_id, "body": f"appended {new_id}"})


def _print(rows: list[tuple[Any, ...]]) -> None:
    print("\nTimes in ms (medians). server = mean CPU of the server's thread per GET; "
          "GET = the whole "
          "GET over loopback HTTP;\npoll = ChatPoller.poll_once() finding one new message = GET + "
          "json.loads + parse (the poller's MessageCache) + rest;\nno cache = "
          "Conversation.model_validate of the whole answer, for comparison;\n"
          "messages() = client.chat.messages() after one new message (its own MessageCache);\n"
          "panel = a poll's one new message applied to ChatModel alone / with the ChatPanel "
          "widget; first load = the\nwhole conversation into a ChatPanel as its first poll "
          "applies it (GETs not included).\n")
    print(f"{'messages':>8}{'JSON KB':>9}{'server':>8}{'GET':>8}{'poll':>8}{'loads':>8}"
          f"{'parse':>9}{'rest':>8}{'model':>8}{'+widget':>9}{'first load':>16}"
          f"{'no cache':>10}{'messages()':>12}")
    for r in rows:
        (size, nbytes, server, get, poll, loads, model, rest, m, w, first, first_n, uncached,
         messages) = r
        load = f"{first / 1000:.2f} s / {int(first_n)}"
        print(f"{size:>8}{nbytes / 1024:>9.1f}{server:>8.2f}{get:>8.2f}{poll:>8.2f}{loads:>8.2f}"
              f"{model:>9.2f}{rest:>8.2f}{m:>8.3f}{w:>9.3f}{load:>16}{uncached:>10.2f}"
              f"{messages:>12.2f}")
    first, last = rows[0], rows[-1]
    print(f"\ngrowth from {first[0]} to {last[0]} messages: JSON x{last[1] / first[1]:.0f}, "
          f"server x{last[2] / first[2]:.0f}, GET x{last[3] / first[3]:.0f}, "
          f"poll x{last[4] / first[4]:.0f}, json.loads x{last[5] / first[5]:.0f}, "
          f"parse x{last[6] / first[6]:.0f}, panel model x{last[8] / first[8]:.0f}, "
          f"panel+widget x{last[9] / first[9]:.0f}, no cache x{last[12] / first[12]:.0f}")


if __name__ == "__main__":
    main()
