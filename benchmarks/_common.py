"""What the benchmark scripts share: a `shopper-chat serve` process, an order with a
conversation, tokens, the machine's description and percentiles. Loopback only."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import httpx
from shopper_chat import Client, tutorial
from shopper_chat.devserver import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

ROOT = Path(__file__).resolve().parents[1]
CLI = Path(sys.executable).with_name("shopper-chat")
CLOCK = "2026-01-15T17:00:00Z"
CREDENTIALS = {"client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET}


def machine() -> str:
    """CPU count and model, Python version."""
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running(command: Sequence[str], port: int, ready: Callable[[str], bool], what: str,
            timeout: float = 60) -> Iterator[tuple[str, int]]:
    """`command`, listening on `port`, in its own process, without Connect settings: yields
    (base URL, pid) once `ready(base URL)` is true; terminated after."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECT_")}
    process = subprocess.Popen(list(command), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if ready(base_url):
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start")
            time.sleep(0.05)
        yield base_url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def serve(*args: str) -> contextlib.AbstractContextManager[tuple[str, int]]:
    """`shopper-chat serve` in its own process: yields (base URL, pid)."""
    port = free_port()
    return running(
        [str(CLI), "serve", "--host", "127.0.0.1", "--port", str(port), *args], port,
        lambda url: httpx.get(f"{url}/_emulator/health", timeout=1).status_code == 200,
        "shopper-chat serve", timeout=30)


def user_token(base_url: str, user_id: str) -> str:
    assertion = base64.b64encode(json.dumps({"user_id": user_id}).encode()).decode()
    answer = httpx.post(f"{base_url}/v2/oauth/token", json={
        **CREDENTIALS, "grant_type": "fulfillment_user_assertion",
        "scope": "connect:post_checkout", "assertion": assertion}, timeout=10)
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def order_with_messages(base_url: str, user_id: str, order_id: str, count: int) -> None:
    """An order in `picking` whose conversation has `count` messages (3 of 4 from the shopper,
    through the control plane; 1 of 4 from the customer)."""
    with Client(base_url, **CREDENTIALS) as client:
        tutorial.create_order(client, user_id=user_id, order_id=order_id)
        tutorial.start_shopping(client, order_id, user_id)
    token = user_token(base_url, user_id)
    with httpx.Client(base_url=base_url, timeout=10) as http:
        existing = len(http.get(f"/v2/post_checkout/chat/{order_id}/messages",
                                headers={"Authorization": f"Bearer {token}"}
                                ).json()["chat_messages"])
        for i in range(existing, count):
            if i % 4 == 3:
                http.post(f"/v2/post_checkout/chat/{order_id}/messages",
                          json={"body": f"customer message {i}: could you check the bananas?"},
                          headers={"Authorization": f"Bearer {token}"}).raise_for_status()
            else:
                http.post(f"/_emulator/orders/{order_id}/shopper_messages",
                          json={"body": f"shopper message {i}: found it, anything else?"}
                          ).raise_for_status()


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (nearest rank) of `values`; nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks
