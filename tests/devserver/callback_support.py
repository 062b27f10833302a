"""A retailer's callback endpoint for the tests, written apart from `shopper_chat.listen`: an OAuth
token URL and an events URL on loopback (`http.server`) that record every request."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from shopper_chat._secret import Secret
from shopper_chat.devserver.callbacks import CallbackConfig

CLIENT_ID = "retailer-callbacks"
CLIENT_SECRET = "s3cret-retailer-value"


class Retailer:
    """A retailer's OAuth-protected callback endpoint: `/token` and `/events`.

    `event_statuses` are the events URL's answers in turn (then 200); `hang` makes the events URL
    wait until the test ends; `revoke_after` makes it refuse a token once that many events came
    with it.
    """

    def __init__(self, *, event_statuses: list[int] | None = None, hang: bool = False,
                 expires_in: Any = 3600, revoke_after: int | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.tokens: dict[str, int] = {}  # token -> events accepted with it
        self.event_statuses = list(event_statuses or [])
        self.hang = hang
        self.expires_in = expires_in
        self.revoke_after = revoke_after
        self.release = threading.Event()
        self.lock = threading.Lock()
        retailer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with retailer.lock:
                    retailer.requests.append({"path": self.path, "headers": dict(self.headers),
                                              "body": body})
                if self.path == "/token":
                    retailer.token(self, body)
                elif self.path == "/events":
                    retailer.event(self, body)
                else:
                    self.send_response(404)
                    self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, handler: BaseHTTPRequestHandler, status: int, data: Any = None) -> None:
        payload = json.dumps(data if data is not None else {}).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def token(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        if handler.headers.get("Content-Type") != "application/x-www-form-urlencoded":
            return self.answer(handler, 400, {"error": "invalid_request"})
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if (form.get("client_id"), form.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
            return self.answer(handler, 401, {"error": "invalid_client"})
        if form.get("grant_type") != "client_credentials":
            return self.answer(handler, 400, {"error": "unsupported_grant_type"})
        with self.lock:
            value = f"tok-{len(self.tokens) + 1}-abcdef"
            self.tokens[value] = 0
        self.answer(handler, 200, {"access_token": value, "token_type": "Bearer",
                                   "expires_in": self.expires_in})

    def event(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        if self.hang:
            self.release.wait(10)
            return
        auth = handler.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ")
        with self.lock:
            known = auth.startswith("Bearer ") and token in self.tokens
            revoked = (known and self.revoke_after is not None
                       and self.tokens[token] >= self.revoke_after)
            if not known or revoked:
                status = 401
            else:
                status = self.event_statuses.pop(0) if self.event_statuses else 200
                if status == 200:
                    self.tokens[token] += 1
                    self.events.append(json.loads(body))
        self.answer(handler, status, {"ok": status == 200})

    def paths(self) -> list[str]:
        with self.lock:
            return [r["path"] for r in self.requests]

    def __enter__(self) -> Retailer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def config_for(retailer: Retailer, *, secret: str = CLIENT_SECRET,
               events: frozenset[str] | None = None) -> CallbackConfig:
    return CallbackConfig(url=f"{retailer.base}/events", token_url=f"{retailer.base}/token",
                          client_id=CLIENT_ID, client_secret=Secret(secret), events=events)


def wait_for(condition: Any, timeout: float = 5.0) -> None:
    """Until `condition()` is true (a failed assertion after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)
