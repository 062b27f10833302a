"""Event callbacks: the development server calls the retailer's endpoint, the way Instacart does.

The flow (the contract's "Event callbacks"):

1. A form-POST (`application/x-www-form-urlencoded`) of `client_id`, `client_secret` and
   `grant_type=client_credentials` to the retailer's token URL, which answers JSON with
   `access_token` and `expires_in`. The token is kept until `RetryPolicy.token_margin` seconds
   before it expires (an answer without `expires_in`: until the events URL refuses it).
2. A JSON POST of each event to the events URL with `Authorization: Bearer <token>`, in the
   envelope `{"event_id", "event_name", "event_timestamp", "event_metadata"}`.
3. A 401 from the events URL makes the engine drop its token, fetch a new one and post again at
   once, one time per attempt.
4. At least once: an attempt without a 2xx answer (or without an answer) is retried with the same
   `event_id`, after 0.5 s, then twice as long each time up to 30 s between attempts, until 300 s
   after the first attempt (15 attempts when each fails at once); then the delivery is given up.
   Every request has a 5 s timeout. (`RetryPolicy` holds these numbers; tests shorten them.)

`CallbackEngine.publish` only queues: it never blocks on the network and never raises, so an API
request that causes an event cannot be slowed or failed by the receiver. One worker thread
delivers, one event at a time in due order, so a hanging receiver costs at most a timeout per
attempt and never holds a lock that the server needs.

Every attempt goes into a bounded delivery log (`DeliveryAttempt`: event, attempt, outcome,
status or error, next retry). Neither the client secret nor a token ever reaches the log, a log
line, a `repr` or `CallbackConfig.public()`: the secret is a `Secret`, error texts are written
here (never copied from an exception or a response body), and are scrubbed of both values anyway.

Pending deliveries go through a `PendingStore` (save one, discard one, load all). The server keeps
them in its store, so that with `--db` they survive a restart (they are sent again at once, with
their attempt count); `MemoryPendingStore` is the in-memory one.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict

from shopper_chat._secret import Secret
from shopper_chat._time import format_time
from shopper_chat.contract import Event

__all__ = [
    "CallbackConfig",
    "CallbackEngine",
    "ENV_VARIABLES",
    "DeliveryAttempt",
    "DeliveryOutcome",
    "MemoryPendingStore",
    "PendingDelivery",
    "PendingStore",
    "RetryPolicy",
    "config_from_env",
    "format_attempt",
]

logger = logging.getLogger(__name__)

MASK = "**********"

DeliveryOutcome = Literal["delivered", "retrying", "gave_up", "dropped"]
"""What became of one attempt: `delivered` (a 2xx answer), `retrying` (another attempt is
scheduled), `gave_up` (the retry window is over), `dropped` (delivery was turned off, or the queue
was full, before the event could be sent)."""

_BODY_LIMIT = 64 * 1024  # a token answer is small; a receiver cannot make the engine read more


@dataclass(frozen=True)
class RetryPolicy:
    """The numbers of the delivery schedule (see the module's docstring)."""

    first_delay: float = 0.5
    """Seconds between the first attempt and the second."""
    factor: float = 2.0
    """Each wait is this many times the previous one..."""
    max_delay: float = 30.0
    """...up to this many seconds."""
    give_up_after: float = 300.0
    """No attempt starts later than this many seconds after the first one."""
    timeout: float = 5.0
    """Seconds each request (token or event) may take to connect, send and answer."""
    token_margin: float = 30.0
    """A token is renewed this many seconds before it expires (half its life when shorter)."""

    def delay(self, attempt: int) -> float:
        """Seconds to wait after the failed attempt number `attempt` (1-based)."""
        return min(self.max_delay, self.first_delay * self.factor ** max(0, attempt - 1))


def _http_url(value: str, name: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a text, not {type(value).__name__}")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{name} must be an http:// or https:// URL with a host")
    return value


def _display_url(url: str) -> str:
    """The URL as shown: a password written into it (`https://user:pw@host`) is masked."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", f":{MASK}@", 1)
    return parts._replace(netloc=netloc).geturl()


@dataclass(frozen=True)
class CallbackConfig:
    """Where and how to deliver: the retailer's events URL, its token URL and the credentials
    the engine sends there; `events`, when given, limits delivery to those event names."""

    url: str
    token_url: str
    client_id: str
    client_secret: Secret
    events: frozenset[str] | None = None

    def __post_init__(self) -> None:
        _http_url(self.url, "url")
        _http_url(self.token_url, "token_url")
        if not isinstance(self.client_id, str) or not self.client_id.strip():
            raise ValueError("client_id must be a non-empty text")
        if not isinstance(self.client_secret, Secret):
            if not isinstance(self.client_secret, str):
                raise ValueError("client_secret must be a text")
            object.__setattr__(self, "client_secret", Secret(self.client_secret))
        if not self.client_secret:
            raise ValueError("client_secret must be a non-empty text")
        if self.events is not None:
            names = frozenset(self.events)
            if not all(isinstance(n, str) and n for n in names):
                raise ValueError("events must be non-empty texts")
            object.__setattr__(self, "events", names)

    def wants(self, event_name: str) -> bool:
        """Whether events of this name are delivered."""
        return self.events is None or event_name in self.events

    def public(self) -> dict[str, Any]:
        """The configuration as shown (control plane, logs): the secret masked."""
        return {
            "url": _display_url(self.url),
            "token_url": _display_url(self.token_url),
            "client_id": self.client_id,
            "client_secret": MASK,
            "events": None if self.events is None else sorted(self.events),
        }


ENV_VARIABLES = (
    "CONNECT_CALLBACK_URL",
    "CONNECT_CALLBACK_TOKEN_URL",
    "CONNECT_CALLBACK_CLIENT_ID",
    "CONNECT_CALLBACK_CLIENT_SECRET",
)
"""The environment variables `shopper-chat serve` reads the settings from (all or none)."""


def config_from_env(environ: Mapping[str, str]) -> CallbackConfig | None:
    """The settings in `ENV_VARIABLES`, or None when none is set. `ValueError` names a missing
    variable, or says which value is unusable (never showing the secret)."""
    values = {name: environ.get(name, "").strip() for name in ENV_VARIABLES}
    if not any(values.values()):
        return None
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise ValueError(f"{missing[0]} is not set (event callbacks need all of "
                         f"{', '.join(ENV_VARIABLES)})")  # fmt: skip
    url, token_url, client_id, secret = values.values()
    try:
        return CallbackConfig(url, token_url, client_id, Secret(secret))
    except ValueError as exc:
        field = str(exc).split(" ", 1)[0]
        variable = {"url": ENV_VARIABLES[0], "token_url": ENV_VARIABLES[1]}.get(field, "")
        raise ValueError(f"{variable or field}: {str(exc).split(' ', 1)[1]}") from None


class PendingDelivery(BaseModel):
    """An event not yet delivered, as the `PendingStore` keeps it: the envelope as sent, and how
    many attempts were made."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event: dict[str, Any]
    attempts: int = 0

    @property
    def event_id(self) -> int:
        """The event's `event_id` (the store's key)."""
        return int(self.event["event_id"])

    @property
    def event_name(self) -> str:
        """The event's `event_name`."""
        return str(self.event["event_name"])


class PendingStore(Protocol):
    """Where pending deliveries are kept, so that they can outlive the process."""

    def save(self, delivery: PendingDelivery) -> None:
        """Insert or replace the pending delivery of `delivery.event_id`."""

    def discard(self, event_id: int) -> None:
        """Forget the delivery of this event (delivered, given up or dropped); no error if
        absent."""

    def load(self) -> list[PendingDelivery]:
        """Every pending delivery, oldest event first."""


class MemoryPendingStore:
    """A `PendingStore` in memory (nothing survives the process)."""

    def __init__(self) -> None:
        self._items: dict[int, PendingDelivery] = {}
        self._lock = threading.Lock()

    def save(self, delivery: PendingDelivery) -> None:
        with self._lock:
            self._items[delivery.event_id] = delivery

    def discard(self, event_id: int) -> None:
        with self._lock:
            self._items.pop(event_id, None)

    def load(self) -> list[PendingDelivery]:
        with self._lock:
            return list(self._items.values())


class DeliveryAttempt(BaseModel):
    """One line of the delivery log."""

    model_config = ConfigDict(frozen=True)

    event_id: int
    event_name: str
    attempt: int
    """1 for the first attempt; 0 for an event dropped before any attempt."""
    at: str
    """When the attempt ended (real UTC time, ISO 8601 with milliseconds)."""
    outcome: DeliveryOutcome
    status: int | None = None
    """The events URL's HTTP status, when it answered."""
    error: str | None = None
    """Why the attempt did not deliver, in a sentence (never a secret)."""
    next_retry_at: str | None = None
    """When the next attempt is due (real UTC time), for `retrying`."""


def format_attempt(entry: DeliveryAttempt) -> str:
    """One line for a log entry, e.g. `event 42 fulfillment.picking attempt 2: retrying (HTTP
    500), next at 2026-01-15T17:00:01.500Z`."""
    head = f"event {entry.event_id} {entry.event_name} attempt {entry.attempt}: {entry.outcome}"
    why = [f"HTTP {entry.status}"] if entry.status is not None else []
    if entry.error:
        why.append(entry.error)
    line = f"{head} ({'; '.join(why)})" if why else head
    if entry.next_retry_at:
        line += f", next at {entry.next_retry_at}"
    return line


class _Failure(Exception):
    """An attempt that did not deliver; `args[0]` is the sentence for the log."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass
class _Item:
    event: dict[str, Any]
    event_id: int
    event_name: str
    attempts: int = 0
    started: float | None = None  # monotonic time of the first attempt in this process


@dataclass
class _Token:
    value: Secret
    expires: float  # monotonic; math.inf when the answer gave no expires_in


@dataclass(order=True)
class _Due:
    at: float
    seq: int
    item: _Item = field(compare=False)


def _utc(moment: float) -> str:
    return format_time(datetime.fromtimestamp(moment, timezone.utc), milliseconds=True)


def _error_text(exc: httpx.HTTPError, timeout: float) -> str:
    # Written here rather than str(exc): an exception's text may carry a URL or an answer.
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, httpx.ConnectError):
        return "could not connect"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the connection was closed without an answer"
    return f"request failed ({type(exc).__name__})"


class CallbackEngine:
    """Delivers events to the configured endpoint from a worker thread (see the module's
    docstring).

    ```python
    engine = CallbackEngine(CallbackConfig(url, token_url, client_id, client_secret))
    engine.start()
    engine.publish(event)          # queued; returns at once
    engine.flush(timeout=5)        # tests: wait until nothing is pending
    engine.deliveries()            # the delivery log
    engine.stop()
    ```

    `transport` is an httpx transport for tests; `clock` the monotonic clock the schedule uses
    (`time.monotonic`), `wall` the real time the log shows (`time.time`).
    """

    def __init__(
        self,
        config: CallbackConfig | None = None,
        *,
        policy: RetryPolicy | None = None,
        store: PendingStore | None = None,
        transport: httpx.BaseTransport | None = None,
        log_size: int = 1000,
        max_pending: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self._store: PendingStore = store if store is not None else MemoryPendingStore()
        self._transport = transport
        self._clock = clock
        self._wall = wall
        self._max_pending = max_pending
        self._cond = threading.Condition()
        self._config = config
        self._generation = 0  # changes with the configuration (the cached token is for one)
        self._epoch = 0  # changes on reset: an attempt in flight then leaves no trace
        self._queue: list[_Due] = []
        self._seq = itertools.count()
        self._in_flight = 0
        self._log: deque[DeliveryAttempt] = deque(maxlen=log_size)
        self._token: _Token | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        for pending in self._load():
            self._push(_Item(pending.event, pending.event_id, pending.event_name,
                             attempts=pending.attempts), self._clock())  # fmt: skip

    # -- configuration -----------------------------------------------------------------------------
    @property
    def config(self) -> CallbackConfig | None:
        """Where events go; None when delivery is off."""
        return self._config

    def configure(self, config: CallbackConfig | None) -> None:
        """Deliver to `config` from now on (pending deliveries follow it, token fetched anew);
        None turns delivery off and drops what is pending."""
        dropped: list[_Item] = []
        with self._cond:
            self._config = config
            self._generation += 1
            self._token = None
            if config is None:
                dropped = [due.item for due in self._queue]
                self._queue.clear()
            self._cond.notify_all()
        for item in dropped:
            self._discard(item.event_id)
            self._record(item, "dropped", error="callbacks were turned off")

    def wants(self, event_name: str) -> bool:
        """Whether an event of this name would be queued now (delivery on, name not filtered
        out), so that the server makes no event nobody will be sent."""
        config = self._config
        return config is not None and config.wants(event_name)

    def reset(self, config: CallbackConfig | None) -> None:
        """Back to a fresh start with `config`: nothing pending, an empty log, no token. (The
        server's reset; its store is cleared by the server.)"""
        with self._cond:
            self._config = config
            self._generation += 1
            self._epoch += 1
            self._token = None
            self._queue.clear()
            self._log.clear()
            self._cond.notify_all()

    # -- publishing --------------------------------------------------------------------------------
    def publish(self, event: Event | Mapping[str, Any]) -> bool:
        """Queue an event for delivery; True when queued. Never blocks on the network and never
        raises: delivery off, an event name the configuration leaves out, or a full queue make it
        return False."""
        try:
            data = (event.model_dump(mode="json") if isinstance(event, Event)
                    else dict(event))  # fmt: skip
            item = _Item(data, int(data["event_id"]), str(data["event_name"]))
            with self._cond:
                config = self._config
                if config is None or not config.wants(item.event_name):
                    return False
                full = len(self._queue) + self._in_flight >= self._max_pending
            if full:
                self._record(item, "dropped", error=f"{self._max_pending} deliveries pending")
                return False
            # Saved before it is queued, so that the worker cannot discard it first.
            self._save(item)
            with self._cond:
                queued = self._config is not None
                if queued:
                    self._push(item, self._clock())
                    self._cond.notify_all()
            if not queued:  # turned off meanwhile (outside the lock: the store has its own)
                self._discard(item.event_id)
            return queued
        except Exception:  # a bug here must not fail the API request that published
            logger.exception("event callbacks: could not queue an event")
            return False

    # -- inspection --------------------------------------------------------------------------------
    def deliveries(self) -> list[DeliveryAttempt]:
        """The delivery log, oldest first (the last `log_size` attempts)."""
        with self._cond:
            return list(self._log)

    def pending(self) -> list[PendingDelivery]:
        """The deliveries still to make (in-flight ones excepted), next due first."""
        with self._cond:
            due = sorted(self._queue)
        return [PendingDelivery(event=d.item.event, attempts=d.item.attempts) for d in due]

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is pending or in flight (delivered, given up or dropped); False
        when `timeout` seconds passed first."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    # -- the worker --------------------------------------------------------------------------------
    def start(self) -> CallbackEngine:
        """Start the worker thread (again after `stop`); returns the engine."""
        with self._cond:
            if self._thread is not None and self._thread.is_alive():
                return self
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="shopper-chat-callbacks",
                                            daemon=True)  # fmt: skip
            self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Stop the worker: it finishes the attempt in flight (at most one request timeout, plus
        one token request). Pending deliveries stay in the store."""
        with self._cond:
            self._stopping = True
            thread = self._thread
            self._cond.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout if timeout is not None else 3 * self.policy.timeout + 1)
        with self._cond:
            self._thread = None

    def __enter__(self) -> CallbackEngine:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self) -> None:
        timeout = httpx.Timeout(self.policy.timeout)
        with httpx.Client(transport=self._transport, timeout=timeout,
                          follow_redirects=False, trust_env=False) as http:  # fmt: skip
            while True:
                with self._cond:
                    while True:
                        # A worker outlived by a newer one (stopped, then started again while
                        # it still waited on a receiver) just ends.
                        if self._stopping or self._thread is not threading.current_thread():
                            return
                        if self._config is not None and self._queue:
                            wait = self._queue[0].at - self._clock()
                            if wait <= 0:
                                break
                            self._cond.wait(wait)
                        else:
                            self._cond.wait()
                    item = heapq.heappop(self._queue).item
                    config = self._config
                    generation = self._generation
                    epoch = self._epoch
                    self._in_flight += 1
                try:
                    self._attempt(http, item, config, generation, epoch)
                except Exception:  # keep the worker alive whatever happens to one event
                    logger.exception("event callbacks: attempt failed unexpectedly")
                finally:
                    with self._cond:
                        self._in_flight -= 1
                        self._cond.notify_all()

    def _attempt(self, http: httpx.Client, item: _Item, config: CallbackConfig,
                 generation: int, epoch: int) -> None:  # fmt: skip
        item.attempts += 1
        if item.started is None:
            item.started = self._clock()
        try:
            status = self._deliver(http, item, config, generation)
        except _Failure as failure:
            if self._epoch == epoch:
                self._failed(item, failure)
        else:
            if self._epoch == epoch:
                self._discard(item.event_id)
                self._record(item, "delivered", status=status)

    def _failed(self, item: _Item, failure: _Failure) -> None:
        now = self._clock()
        delay = self.policy.delay(item.attempts)
        assert item.started is not None
        if now + delay - item.started > self.policy.give_up_after:
            self._discard(item.event_id)
            self._record(item, "gave_up", status=failure.status,
                         error=f"{failure.reason}; no retry after "
                               f"{self.policy.give_up_after:g} s")  # fmt: skip
            return
        with self._cond:
            if self._config is None:
                dropped = True
            else:
                dropped = False
                self._push(item, now + delay)
        if dropped:
            self._discard(item.event_id)
            self._record(item, "dropped", status=failure.status,
                         error=f"{failure.reason}; callbacks were turned off")  # fmt: skip
            return
        self._save(item)
        self._record(item, "retrying", status=failure.status, error=failure.reason,
                     next_retry_at=_utc(self._wall() + delay))  # fmt: skip

    def _deliver(self, http: httpx.Client, item: _Item, config: CallbackConfig,
                 generation: int) -> int:  # fmt: skip
        """POST the event; the events URL's 2xx status, else `_Failure`."""
        token, fresh = self._token_for(http, config, generation)
        status = self._post_event(http, item, config, token)
        if status == 401 and not fresh:
            # The contract: a 401 makes the sender fetch a new token once before trying again.
            self._forget_token(token)
            token, _ = self._token_for(http, config, generation)
            status = self._post_event(http, item, config, token)
        if 200 <= status < 300:
            return status
        if status == 401:
            self._forget_token(token)  # the next attempt starts with a new one
            raise _Failure("the events URL refused the bearer token (401)", status)
        raise _Failure(f"the events URL answered {status}", status)

    def _post_event(self, http: httpx.Client, item: _Item, config: CallbackConfig,
                    token: Secret) -> int:  # fmt: skip
        headers = {"Authorization": f"Bearer {token.get_secret_value()}",
                   "Accept": "application/json"}  # fmt: skip
        try:
            with http.stream("POST", config.url, json=item.event, headers=headers) as answer:
                # The answer's body is not needed; reading a little lets the connection be reused.
                self._read_some(answer)
                return answer.status_code
        except httpx.HTTPError as exc:
            raise _Failure(f"events URL: {_error_text(exc, self.policy.timeout)}") from None

    # -- the token ---------------------------------------------------------------------------------
    def _token_for(self, http: httpx.Client, config: CallbackConfig,
                   generation: int) -> tuple[Secret, bool]:  # fmt: skip
        """The cached token, or a new one (then `fresh` is True)."""
        with self._cond:
            token = self._token
        if token is not None and self._clock() < token.expires:
            return token.value, False
        token = self._fetch_token(http, config)
        with self._cond:
            if self._generation == generation:  # not for a configuration replaced meanwhile
                self._token = token
        return token.value, True

    def _forget_token(self, value: Secret) -> None:
        with self._cond:
            if self._token is not None and self._token.value == value:
                self._token = None

    def _fetch_token(self, http: httpx.Client, config: CallbackConfig) -> _Token:
        form = {
            "client_id": config.client_id,
            "client_secret": config.client_secret.get_secret_value(),
            "grant_type": "client_credentials",
        }
        try:
            # data= sends application/x-www-form-urlencoded, as the contract says.
            with http.stream("POST", config.token_url, data=form,
                             headers={"Accept": "application/json"}) as answer:  # fmt: skip
                body = self._read_some(answer)
                status = answer.status_code
        except httpx.HTTPError as exc:
            raise _Failure(f"token URL: {_error_text(exc, self.policy.timeout)}") from None
        if status in (400, 401, 403):
            raise _Failure(f"the token URL refused the client credentials ({status})")
        if not 200 <= status < 300:
            raise _Failure(f"the token URL answered {status}")
        try:
            data = json.loads(body)
        except ValueError:
            raise _Failure("the token URL's answer is not JSON") from None
        value = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(value, str) or not value:
            raise _Failure("the token URL's answer has no access_token")
        expires_in = data.get("expires_in")
        if isinstance(expires_in, (int, float)) and not isinstance(expires_in, bool) \
                and expires_in > 0 and math.isfinite(expires_in):
            margin = min(self.policy.token_margin, expires_in / 2)
            expires = self._clock() + expires_in - margin
        else:
            expires = math.inf  # used until the events URL refuses it
        return _Token(Secret(value), expires)

    @staticmethod
    def _read_some(answer: httpx.Response) -> bytes:
        chunks: list[bytes] = []
        size = 0
        for chunk in answer.iter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size >= _BODY_LIMIT:
                break
        return b"".join(chunks)[:_BODY_LIMIT]

    # -- the queue, the store and the log ----------------------------------------------------------
    def _push(self, item: _Item, at: float) -> None:
        heapq.heappush(self._queue, _Due(at, next(self._seq), item))

    def _load(self) -> Iterable[PendingDelivery]:
        try:
            return self._store.load()
        except Exception:
            logger.exception("event callbacks: could not load the pending deliveries")
            return []

    def _save(self, item: _Item) -> None:
        if self._stopping:
            return  # the server may be closing its store; the item stays as last saved
        try:
            self._store.save(PendingDelivery(event=item.event, attempts=item.attempts))
        except Exception:  # delivery goes on; only surviving a restart is lost
            logger.exception("event callbacks: could not save a pending delivery")

    def _discard(self, event_id: int) -> None:
        if self._stopping:
            return  # kept: sent again after a restart, which at least once allows
        try:
            self._store.discard(event_id)
        except Exception:
            logger.exception("event callbacks: could not discard a pending delivery")

    def _scrub(self, text: str | None) -> str | None:
        # The sentences are ours and hold no secret; this guards against a future one that does.
        if text is None:
            return None
        secrets: list[str] = []
        config = self._config
        if config is not None:
            secrets.append(config.client_secret.get_secret_value())
        token = self._token
        if token is not None:
            secrets.append(token.value.get_secret_value())
        for secret in secrets:
            if secret:
                text = text.replace(secret, MASK)
        return text

    def _record(self, item: _Item, outcome: DeliveryOutcome, *, status: int | None = None,
                error: str | None = None, next_retry_at: str | None = None) -> None:
        entry = DeliveryAttempt(
            event_id=item.event_id,
            event_name=item.event_name,
            attempt=item.attempts,
            at=_utc(self._wall()),
            outcome=outcome,
            status=status,
            error=self._scrub(error),
            next_retry_at=next_retry_at,
        )
        with self._cond:
            self._log.append(entry)
        level = logging.INFO if outcome == "delivered" else logging.WARNING
        logger.log(level, "event callbacks: %s", format_attempt(entry))
