"""`shopper-chat serve` in its own process, fault rules, and helpers the reliability tests share."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import support
from shopper_chat.devserver import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

ROOT = Path(__file__).resolve().parents[2]
SEED = 7
CLOCK = "2026-01-15T17:00:00Z"
CHAT_GLOB = "/v2/post_checkout/chat/*"


@dataclass
class ServeProcess(support.ServeProcess):
    """`shopper-chat serve` in its own process, with its fault rules at hand."""

    added: list[dict[str, Any]] = field(default_factory=list)
    """The fault rules added, as the server answered them (ids from 1)."""

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
