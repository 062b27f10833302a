"""Benchmark 4: the delay from a shopper message being posted to the poller yielding it, at the
poller's default interval (2 s).

    .venv/bin/python benchmarks/message_delay.py [--orders 8] [--samples 120] [--interval 2]

`shopper-chat serve` (real clock, scripted shopper off) runs in its own process. Several orders
are polled at once, each by its own `ChatPoller` (defaults: interval 2 s, order state watched)
in its own thread, so that many samples fit in a short time; shopper messages are posted
through `/_emulator/orders/{id}/shopper_messages` at random moments (seeded). The delay runs from
the moment the POST's answer arrived (the message is stored) to the moment the poller yields it.
The goal: within one interval plus 100 ms.
"""

from __future__ import annotations

import argparse
import random
import threading
import time

import httpx
from shopper_chat import ChatPoller, Client
from shopper_chat.client import NewMessage


def main() -> None:
    from _common import CREDENTIALS, machine, order_with_messages, percentile, serve

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=8)
    parser.add_argument("--samples", type=int, default=120)
    parser.add_argument("--interval", type=float, default=None,
                        help="poll interval (default: ChatPoller's own default)")
    options = parser.parse_args()
    print(f"machine: {machine()}")
    with serve("--seed", "7", "--no-shopper") as (base_url, _pid):
        orders = [f"delay-order-{i}" for i in range(options.orders)]
        clients, pollers = [], []
        for i, order in enumerate(orders):
            user = f"delay-customer-{i}"
            order_with_messages(base_url, user, order, 20)
            client = Client(base_url, **CREDENTIALS)
            client.set_user(user)
            clients.append(client)
            kwargs = {} if options.interval is None else {"interval": options.interval}
            pollers.append(ChatPoller(client, order, stop_states=(), **kwargs))
        interval = pollers[0].interval
        posted: dict[str, float] = {}
        yielded: dict[str, float] = {}
        lock = threading.Lock()

        def watch(poller: ChatPoller) -> None:
            for event in poller:
                if isinstance(event, NewMessage):
                    now = time.monotonic()
                    with lock:
                        yielded.setdefault(event.message.body, now)

        threads = [threading.Thread(target=watch, args=(p,), daemon=True) for p in pollers]
        for thread in threads:
            thread.start()
        time.sleep(interval + 0.5)  # every poller has seen its conversation once
        rng = random.Random(2026)
        gap = interval / options.orders  # about one post per order per interval
        with httpx.Client(base_url=base_url, timeout=10) as control:
            for n in range(options.samples):
                time.sleep(rng.uniform(0.5, 1.5) * gap)
                order = rng.choice(orders)
                body = f"sample {n}"
                control.post(f"/_emulator/orders/{order}/shopper_messages",
                             json={"body": body}).raise_for_status()
                with lock:
                    posted[body] = time.monotonic()
        deadline = time.monotonic() + 2 * interval + 5
        while time.monotonic() < deadline:
            with lock:
                if all(body in yielded for body in posted):
                    break
            time.sleep(0.05)
        for poller in pollers:
            poller.stop()
        for thread in threads:
            thread.join(timeout=10)
        for client in clients:
            client.close()

    delays = [yielded[body] - at for body, at in posted.items() if body in yielded]
    missing = len(posted) - len(delays)
    goal = interval + 0.1
    within = sum(d <= goal for d in delays)
    print(f"{len(delays)} samples over {len(orders)} orders, ChatPoller interval {interval:g} s "
          f"(order state watched), {missing} never yielded")
    print(f"delay p50 {percentile(delays, 50) * 1000:.0f} ms, p99 "
          f"{percentile(delays, 99) * 1000:.0f} ms, max {max(delays) * 1000:.0f} ms, "
          f"min {min(delays) * 1000:.0f} ms")
    print(f"goal: within one interval + 100 ms = {goal * 1000:.0f} ms: "
          f"{within}/{len(delays)} samples ({100 * within / len(delays):.0f}%); "
          f"max/goal ratio {max(delays) / goal:.2f}")


if __name__ == "__main__":
    main()
