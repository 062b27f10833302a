"""`shopper-chat serve` in its own process, fault rules, and helpers the reliability tests share."""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from shopper_chat.devserver import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

ROOT = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).with_name("shopper-chat")
CONNECT_ENV = ("CONNECT_BASE_URL", "CONNECT_CLIENT_ID", "CONNECT_CLIENT_SECRET",
               "CONNECT_USER_TOKEN")
SEED = 7
CLOCK = "2026-01-15T17:00:00Z"
CHAT_GLOB = "/v2/post_checkout/chat/*"


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any Connect settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in CONNECT_ENV}
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServeProcess:
    """`shopper-chat serve` as a subprocess; `start()` waits for its health route."""

    args: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[str] | None = None
    added: list[dict[str, Any]] = field(default_factory=list)
    """The fault rules added, as the server answered them (ids from 1)."""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServeProcess:
        if not CLI.exists():
            pytest.fail(f"{CLI} is missing: install the project (`make install`).", pytrace=False)
        self.process = subprocess.Popen(
            [str(CLI), "serve", "--host", "127.0.0.1", "--port", str(self.port), *self.args],
            env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.base_url}/_emulator/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail("shopper-chat serve did not start", pytrace=False)
            time.sleep(0.05)

    def kill(self) -> None:
        """Kill it at once (SIGKILL): no graceful shutdown, as in a crash."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        if self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None

    def stop(self) -> str:
        """Stop it; returns what it wrote to stderr."""
        if self.process is None:
            return ""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        err = self.process.stderr.read() if self.process.stderr is not None else ""
        if self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None
        return err or ""

    def add_fault(self, **rule: Any) -> None:
        answer = httpx.post(f"{self.base_url}/_emulator/faults", json=rule, timeout=5)
        answer.raise_for_status()
        self.added.append(answer.json())

    def faults(self) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.base_url}/_emulator/faults", timeout=5)
        answer.raise_for_status()
        return list(answer.json()["faults"])


def add_faults(add: Any) -> None:
    """The fault mix of the end-to-end run: 429 with and without Retry-After, 503, added latency
    and dropped connections, on the safe routes and on chat send (there, after the message is
    stored).

    Each failing rule is bounded (`times`) and each route has at most three failing rules, so
    no call can meet more failures in a row than the client's retries outlast (five attempts):
    the run must pass, and every kind of fault is certain (or, drawn from the seeded source, all
    but certain) to happen.
    """
    chat, status = CHAT_GLOB, "/v2/post_checkout/orders/*"
    add(method="POST", path="/v2/oauth/token", status=429, retry_after=1, times=1)
    add(method="POST", path="/v2/fulfillment_sandbox/*", status=429, probability=0.5, times=1)
    add(method="GET", path=status, status=429, retry_after=1, probability=0.5, times=2)
    add(method="GET", path=chat, status=429, probability=0.3, times=1)
    add(method="GET", path=chat, drop=True, probability=0.3, times=1)
    add(method="GET", path=chat, status=503, probability=0.3, times=1)
    add(method="PUT", path=chat, status=503, times=1)
    add(method="POST", path=chat, status=429, times=1)
    add(method="POST", path=chat, status=503, times=1)
    # After the handler: the message is stored and its answer lost (send's read-back finds it).
    add(method="POST", path=chat, drop=True, when="after", times=1)
    add(method="*", path="/v2/*", latency_ms=30, probability=0.3)


def client_kwargs() -> dict[str, Any]:
    return {"client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET}


TOKEN_RUN = re.compile(r"[A-Za-z0-9_-]{43,}")


def token_hashes(db: Path) -> set[str]:
    """The hashes of every access token a server (with `--db`) has issued: it keeps no token."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT id FROM records WHERE kind = 'token'").fetchall()
    return {str(r[0]) for r in rows}


def tokens_in(text: str, hashes: set[str]) -> list[str]:
    """Access tokens the server issued that appear in `text` (matched by their hash)."""
    import hashlib

    found = set()
    for run in set(TOKEN_RUN.findall(text)):
        for start in range(len(run) - 42):
            candidate = run[start:start + 43]
            if hashlib.sha256(candidate.encode()).hexdigest() in hashes:
                found.add(candidate)
    return sorted(found)
