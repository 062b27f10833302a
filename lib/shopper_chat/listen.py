"""Receive Connect's event callbacks on this machine: the library's `Receiver` and `shopper-chat
listen`.

A `Receiver` behaves like a well-made retailer endpoint. It serves, on loopback:

- a token URL (`/oauth/token`) that takes the OAuth client-credentials form-POST
  (`client_id`, `client_secret`, `grant_type=client_credentials`) and answers a bearer token with
  its `expires_in`; wrong credentials get 401 `{"error": "invalid_client"}`;
- an events URL (`/events`) that takes an event only with a token it issued and that has not
  expired (else 401 `{"error": "invalid_token"}`), and only in the documented envelope (else 400).

```python
from shopper_chat.listen import Receiver
with Receiver() as receiver:
    receiver.register(base_url)                      # PUT base_url/_emulator/callbacks
    ...                                              # cause something
    event = receiver.wait_for_event("chat_message_created", timeout=10)
    print(format_event(event))
```

**Duplicates.** Delivery is at least once: after a lost answer or a retry the same event comes
again, with the same `event_id`. The receiver answers 200 to a repeat (so the sender stops) but
keeps, prints, writes and forwards each `event_id` once (`duplicates` counts the repeats). It
remembers the last 100,000 ids.

**Waiting.** `wait_for_event(name, timeout)` hands out each received event once, oldest first: it
returns the oldest event of that name that no earlier call returned, waiting for one when there
is none yet. Two `fulfillment.picking` events need two calls.

`events` (a list of names, or patterns such as `fulfillment.*`) keeps only those; others are
answered 200 and dropped. `forward_to` passes each kept event on, as received, to another URL
(from a background thread, so a slow app cannot hold up the answer); `jsonl` appends each kept
event to a JSON Lines file.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import hashlib
import hmac
import json
import logging
import os
import queue
import secrets
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import IO, Any
from urllib.parse import parse_qs, urlsplit

import httpx
from pydantic import ValidationError

from shopper_chat._secret import Secret
from shopper_chat.cli import _port  # the command line's one port check
from shopper_chat.contract import EVENT_NAMES, Event, parse_event

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_PORT",
    "EventTimeout",
    "ForwardResult",
    "Receiver",
    "RegistrationError",
    "add_arguments",
    "event_filter",
    "format_event",
    "main",
]

logger = logging.getLogger(__name__)

DEFAULT_CLIENT_ID = "shopper-chat-listener"
"""The client id a receiver expects when none is given (nor `CONNECT_CALLBACK_CLIENT_ID`)."""

DEFAULT_PORT = 8766
"""`shopper-chat listen`'s port (the development server's is 8765)."""

TOKEN_PATH = "/oauth/token"
EVENTS_PATH = "/events"
_MAX_BODY = 1024 * 1024
_REMEMBERED_IDS = 100_000
_FORWARD_TIMEOUT = 5.0


class EventTimeout(TimeoutError):
    """`wait_for_event` saw no such event in time."""


class RegistrationError(Exception):
    """The development server did not take the receiver as its callback endpoint; the message
    says why in one sentence."""


@dataclass(frozen=True)
class ForwardResult:
    """What the `forward_to` URL made of one event: its HTTP status, or why there was none."""

    event: Event
    status: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """A 2xx answer."""
        return self.status is not None and 200 <= self.status < 300


def event_filter(patterns: Iterable[str]) -> tuple[str, ...]:
    """The event names or `fnmatch` patterns (`fulfillment.*`) given, checked: each must name at
    least one event the development server sends, so that a typo is an error, not silence.

    Raises `ValueError` with a sentence naming the bad pattern.
    """
    checked: list[str] = []
    for pattern in patterns:
        name = pattern.strip() if isinstance(pattern, str) else ""
        if not name:
            raise ValueError("an event name must not be empty")
        if not fnmatch.filter(EVENT_NAMES, name):
            raise ValueError(f"unknown event name {name!r} (known: {', '.join(EVENT_NAMES)})")
        checked.append(name)
    return tuple(checked)


def _matches(name: str, patterns: tuple[str, ...] | None) -> bool:
    return patterns is None or any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _shown(value: Any) -> str:
    # One line, no terminal control characters, whatever the sender put in its metadata.
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)
    return text if len(text) <= 80 else text[:77] + "..."


def format_event(event: Event) -> str:
    """One line for an event, e.g.
    `2026-01-15T17:00:00Z  fulfillment.picking        order_id=order-1  (event 12)`."""
    metadata = event.model_dump(mode="json")["event_metadata"]
    fields = "  ".join(f"{_shown(key)}={_shown(value)}" for key, value in metadata.items())
    stamp = event.model_dump(mode="json")["event_timestamp"]
    line = f"{stamp}  {_shown(event.event_name):<26} {fields}".rstrip()
    return f"{line}  (event {event.event_id})"


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class Receiver:
    """A retailer's callback endpoint on loopback (see the module's docstring).

    Args:
        host, port: where to listen (port 0: a free one).
        client_id, client_secret: the credentials the token URL accepts; None reads
            `CONNECT_CALLBACK_CLIENT_ID` / `CONNECT_CALLBACK_CLIENT_SECRET`, else
            `DEFAULT_CLIENT_ID` and a random secret made for this receiver.
        events: names or patterns of the events to keep (None: all).
        forward_to: an http(s) URL each kept event is POSTed to, as received.
        jsonl: a file each kept event is appended to, one JSON object a line.
        token_lifetime: the `expires_in` of the tokens it issues, in seconds.
        on_event: called with each kept event, from the server's thread.
        on_forward: called with each `ForwardResult`, from the forwarding thread.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        client_id: str | None = None,
        client_secret: str | Secret | None = None,
        events: Iterable[str] | None = None,
        forward_to: str | None = None,
        jsonl: str | os.PathLike[str] | None = None,
        token_lifetime: int = 3600,
        on_event: Callable[[Event], None] | None = None,
        on_forward: Callable[[ForwardResult], None] | None = None,
    ) -> None:
        self.client_id = client_id or os.environ.get("CONNECT_CALLBACK_CLIENT_ID") or \
            DEFAULT_CLIENT_ID
        secret = client_secret or os.environ.get("CONNECT_CALLBACK_CLIENT_SECRET") or None
        self.secret_generated = secret is None
        if secret is None:
            secret = secrets.token_urlsafe(24)
        self.client_secret = secret if isinstance(secret, Secret) else Secret(secret)
        self.patterns = None if events is None else event_filter(events)
        if forward_to is not None:
            parts = urlsplit(forward_to)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("forward_to must be an http:// or https:// URL with a host")
        self.forward_to = forward_to
        self.jsonl = None if jsonl is None else Path(jsonl)
        self.token_lifetime = token_lifetime
        self.on_event = on_event
        self.on_forward = on_forward
        self.duplicates = 0
        self._host, self._port = host, port
        self._cond = threading.Condition()
        self._events: list[Event] = []
        self._taken: set[int] = set()  # positions in _events already handed out by wait_for_event
        self._seen: set[int] = set()
        self._seen_order: deque[int] = deque()
        self._tokens: dict[bytes, float] = {}  # sha256 of a token -> monotonic expiry
        self._server: ThreadingHTTPServer | None = None
        self._address: str | None = None
        self._thread: threading.Thread | None = None
        self._jsonl_file: IO[str] | None = None
        self._forwards: queue.Queue[Event | None] = queue.Queue()
        self._forwarder: threading.Thread | None = None
        self._raw: dict[int, bytes] = {}  # event_id -> body as received, until forwarded

    # -- where it listens --------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """`http://HOST:PORT` (once started; it stays readable after `stop`)."""
        if self._address is None:
            raise RuntimeError("the receiver is not started")
        return self._address

    @property
    def token_url(self) -> str:
        """The OAuth token URL to configure on the sender."""
        return self.base_url + TOKEN_PATH

    @property
    def events_url(self) -> str:
        """The events URL to configure on the sender."""
        return self.base_url + EVENTS_PATH

    # -- life --------------------------------------------------------------------------------------
    def start(self) -> Receiver:
        """Listen (in a background thread); returns the receiver. `OSError` when the address is
        taken; `OSError` too when the JSON Lines file cannot be opened."""
        if self._server is not None:
            return self
        if self.jsonl is not None:
            self._jsonl_file = self.jsonl.open("a", encoding="utf-8")
        try:
            self._server = ThreadingHTTPServer((self._host, self._port), _handler_for(self))
        except BaseException:
            self._close_jsonl()
            raise
        self._server.daemon_threads = True
        host, port = self._server.server_address[:2]
        self._address = f"http://{host!s}:{port}"
        # A short poll interval: `stop` (shutdown) waits for one, and tests stop often.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="shopper-chat-listen", daemon=True)  # fmt: skip
        self._thread.start()
        if self.forward_to is not None:
            self._forwarder = threading.Thread(target=self._forward_loop,
                                               name="shopper-chat-forward", daemon=True)
            self._forwarder.start()
        return self

    def stop(self) -> None:
        """Stop listening, finish the forwards queued so far (each at most 5 s), close the file."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._forwarder is not None:
            self._forwards.put(None)
            self._forwarder.join()
            self._forwarder = None
        self._close_jsonl()

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _close_jsonl(self) -> None:
        if self._jsonl_file is not None:
            self._jsonl_file.close()
            self._jsonl_file = None

    # -- what arrived ------------------------------------------------------------------------------
    @property
    def events(self) -> list[Event]:
        """Every kept event, once each, in the order they arrived."""
        with self._cond:
            return list(self._events)

    def wait_for_event(self, name: str, timeout: float = 10.0) -> Event:
        """The oldest event named `name` that no earlier call returned, waiting up to `timeout`
        seconds for one; `EventTimeout` when none came. `ValueError` when the receiver's
        `events` filter leaves that name out (it would never come)."""
        if not _matches(name, self.patterns):
            raise ValueError(f"this receiver keeps only {', '.join(self.patterns or ())}, "
                             f"not {name}")  # fmt: skip
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for position, event in enumerate(self._events):
                    if position not in self._taken and event.event_name == name:
                        self._taken.add(position)
                        return event
                left = deadline - time.monotonic()
                if left <= 0:
                    names = [e.event_name for e in self._events]
                    raise EventTimeout(
                        f"no new {name} event within {timeout:g} s "
                        f"(received: {', '.join(names) if names else 'nothing'})"
                    )
                self._cond.wait(left)

    # -- registering with a development server -----------------------------------------------------
    def register(self, base_url: str, *, timeout: float = 10.0) -> dict[str, Any]:
        """Make the development server at `base_url` send its events here
        (`PUT /_emulator/callbacks`); returns its answer (the secret masked).
        `RegistrationError` says in a sentence why not."""
        body: dict[str, Any] = {
            "url": self.events_url,
            "token_url": self.token_url,
            "client_id": self.client_id,
            "client_secret": self.client_secret.get_secret_value(),
        }
        if self.patterns is not None:
            body["events"] = [n for n in EVENT_NAMES if _matches(n, self.patterns)]
        answer = self._control(base_url, "PUT", body, timeout)
        return answer if isinstance(answer, dict) else {}

    def unregister(self, base_url: str, *, timeout: float = 5.0) -> None:
        """Turn the server's delivery off (`DELETE /_emulator/callbacks`), when it still sends
        here. `RegistrationError` when the server cannot be asked."""
        current = self._control(base_url, "GET", None, timeout)
        if isinstance(current, dict) and current.get("url") == self.events_url:
            self._control(base_url, "DELETE", None, timeout)

    @staticmethod
    def _control(base_url: str, method: str, body: Any, timeout: float) -> Any:
        url = base_url.rstrip("/") + "/_emulator/callbacks"
        try:
            with httpx.Client(timeout=timeout, trust_env=False) as http:
                answer = http.request(method, url, json=body)
        except httpx.InvalidURL:
            raise RegistrationError(f"{base_url!r} is not a URL") from None
        except httpx.HTTPError:
            raise RegistrationError(f"cannot reach a development server at {base_url}") from None
        if answer.status_code == 404 or answer.status_code == 405:
            raise RegistrationError(f"{base_url} does not take callback settings "
                                    f"({method} /_emulator/callbacks answered "
                                    f"{answer.status_code})")  # fmt: skip
        try:
            data = answer.json()
        except ValueError:
            data = None
        if not answer.is_success:
            message = ""
            if isinstance(data, dict) and isinstance(data.get("error"), dict):
                error = data["error"]
                key = (data.get("meta") or {}).get("key") if isinstance(data.get("meta"),
                                                                         dict) else None
                message = f": {key + ' ' if key else ''}{error.get('message', '')}"
            raise RegistrationError(f"{base_url} refused the callback settings "
                                    f"({answer.status_code}{message})")  # fmt: skip
        return data

    # -- the HTTP side -----------------------------------------------------------------------------
    def _issue_token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        given_id = form.get("client_id", "").encode()
        given_secret = form.get("client_secret", "").encode()
        # Both compared, in constant time, so that the answer does not tell which was wrong.
        id_ok = hmac.compare_digest(given_id, self.client_id.encode())
        secret_ok = hmac.compare_digest(given_secret,
                                        self.client_secret.get_secret_value().encode())
        if not (id_ok and secret_ok):
            return 401, {"error": "invalid_client"}
        token = secrets.token_urlsafe(32)
        with self._cond:
            now = time.monotonic()
            self._tokens = {k: v for k, v in self._tokens.items() if v > now}
            self._tokens[_digest(token)] = now + self.token_lifetime
        return 200, {"access_token": token, "token_type": "Bearer",
                     "expires_in": self.token_lifetime}  # fmt: skip

    def _token_ok(self, authorization: str | None) -> bool:
        if not authorization or not authorization.startswith("Bearer "):
            return False
        digest = _digest(authorization.removeprefix("Bearer ").strip())
        with self._cond:
            expires = self._tokens.get(digest)
        return expires is not None and time.monotonic() < expires

    def _receive(self, body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            data = json.loads(body)
        except ValueError:
            return 400, {"error": "the body is not JSON"}
        if not isinstance(data, dict):
            return 400, {"error": "the body is not a JSON object"}
        try:
            event = parse_event(data)
        except ValidationError as exc:
            where = ".".join(str(p) for p in exc.errors()[0]["loc"]) or "body"
            return 400, {"error": f"not an event envelope ({where})"}
        if not _matches(event.event_name, self.patterns):
            return 200, {"received": True, "kept": False}
        with self._cond:
            if event.event_id in self._seen:
                self.duplicates += 1
                return 200, {"received": True, "duplicate": True}
            self._seen.add(event.event_id)
            self._seen_order.append(event.event_id)
            if len(self._seen_order) > _REMEMBERED_IDS:
                self._seen.discard(self._seen_order.popleft())
            self._events.append(event)
            if self._jsonl_file is not None:
                self._jsonl_file.write(json.dumps(data, ensure_ascii=False) + "\n")
                self._jsonl_file.flush()
            if self.forward_to is not None:
                self._raw[event.event_id] = body
                self._forwards.put(event)
            self._cond.notify_all()
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:  # the sender gets its 200 whatever the callback does
                logger.exception("listen: on_event failed")
        return 200, {"received": True}

    def _forward_loop(self) -> None:
        assert self.forward_to is not None
        with httpx.Client(timeout=_FORWARD_TIMEOUT, trust_env=False) as http:
            while True:
                event = self._forwards.get()
                if event is None:
                    return
                with self._cond:
                    body = self._raw.pop(event.event_id, b"")
                try:
                    answer = http.post(self.forward_to, content=body,
                                       headers={"Content-Type": "application/json"})
                    result = ForwardResult(event, status=answer.status_code)
                except httpx.TimeoutException:
                    result = ForwardResult(event, error=f"no answer within {_FORWARD_TIMEOUT:g} s")
                except httpx.HTTPError:
                    result = ForwardResult(event, error="could not connect")
                if self.on_forward is not None:
                    try:
                        self.on_forward(result)
                    except Exception:
                        logger.exception("listen: on_forward failed")


def _handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "shopper-chat-listen"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the receiver reports through its callbacks, not on stderr

        def _answer(self, status: int, data: dict[str, Any],
                    headers: dict[str, str] | None = None) -> None:  # fmt: skip
            payload = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Cache-Control", "no-store")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def _body(self) -> bytes | None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= _MAX_BODY:
                self._answer(413 if length > _MAX_BODY else 400,
                             {"error": "a body of at most 1 MiB with a Content-Length"})
                return None
            return self.rfile.read(length)

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            if path == TOKEN_PATH:
                body = self._body()
                if body is None:
                    return
                kind = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
                if kind != "application/x-www-form-urlencoded":
                    self._answer(400, {"error": "invalid_request", "error_description":
                                       "send application/x-www-form-urlencoded"})
                    return
                form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
                self._answer(*receiver._issue_token(form))
            elif path == EVENTS_PATH:
                if not receiver._token_ok(self.headers.get("Authorization")):
                    self._answer(401, {"error": "invalid_token"},
                                 {"WWW-Authenticate": 'Bearer error="invalid_token"'})
                    return
                body = self._body()
                if body is not None:
                    self._answer(*receiver._receive(body))
            else:
                self._answer(404, {"error": "not found"})

        def do_GET(self) -> None:
            self._answer(405 if urlsplit(self.path).path in (TOKEN_PATH, EVENTS_PATH) else 404,
                         {"error": "use POST"})

    return Handler


# -- shopper-chat listen ---------------------------------------------------------------------------
def _url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"not an http(s) URL: {text!r}")
    return text


def _names(text: str) -> list[str]:
    try:
        return list(event_filter(text.split(",")))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `shopper-chat listen`."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=_port, default=DEFAULT_PORT,
                        help=f"port ({DEFAULT_PORT}; 0: any free port)")  # fmt: skip
    parser.add_argument("--events", type=_names, action="append", metavar="NAMES",
                        help="keep only these events (comma-separated names or patterns such as "
                             "'fulfillment.*'; repeatable)")  # fmt: skip
    parser.add_argument("--forward-to", type=_url, metavar="URL",
                        help="POST each event, as received, to this URL too")  # fmt: skip
    parser.add_argument("--jsonl", type=Path, metavar="PATH",
                        help="append each event to this JSON Lines file")  # fmt: skip
    parser.add_argument("--register", type=_url, metavar="BASE_URL",
                        help="make the development server at BASE_URL send its events here "
                             "(and stop it on exit)")  # fmt: skip


def _print_forward(result: ForwardResult) -> None:
    if not result.ok:
        why = f"answered {result.status}" if result.status is not None else result.error
        print(f"forward of event {result.event.event_id} failed: {why}", file=sys.stderr,
              flush=True)  # fmt: skip


def _stop_on_sigterm() -> None:
    # A terminated listener (a test, a process manager) cleans up like after Ctrl-C.
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


def main(args: argparse.Namespace) -> int:
    """Run `shopper-chat listen` until Ctrl-C: print one line per event as it arrives."""
    if args.jsonl is not None and not _can_append(args.jsonl):
        print(f"shopper-chat listen: cannot write to {args.jsonl}", file=sys.stderr)
        return 2
    events = None if args.events is None else [n for group in args.events for n in group]
    receiver = Receiver(host=args.host, port=args.port, events=events,
                        forward_to=args.forward_to, jsonl=args.jsonl,
                        on_event=lambda event: print(format_event(event), flush=True),
                        on_forward=_print_forward)  # fmt: skip
    try:
        receiver.start()
    except OSError as exc:
        print(f"shopper-chat listen: cannot listen on {args.host}:{args.port}: "
              f"{exc.strerror or exc}", file=sys.stderr)  # fmt: skip
        return 2
    _stop_on_sigterm()
    registered = False
    try:
        print(f"shopper-chat listener on {receiver.base_url} (events URL {receiver.events_url}, "
              f"token URL {receiver.token_url}, client id {receiver.client_id})", flush=True)
        if args.register is not None:
            try:
                receiver.register(args.register)
            except RegistrationError as exc:
                print(f"shopper-chat listen: {exc}", file=sys.stderr)
                return 2
            registered = True
            print(f"registered with {args.register}: its events come here", flush=True)
        elif receiver.secret_generated:
            print("the client secret was made for this run and is not shown: use --register "
                  "BASE_URL, or export CONNECT_CALLBACK_CLIENT_SECRET for both the listener and "
                  "the server", file=sys.stderr, flush=True)  # fmt: skip
        stopped = threading.Event()
        while not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        if registered:
            with contextlib.suppress(RegistrationError):  # the server is gone: nothing to stop
                receiver.unregister(args.register)
        receiver.stop()
    return 0


def _can_append(path: Path) -> bool:
    try:
        with path.open("a", encoding="utf-8"):
            return True
    except OSError:
        return False
