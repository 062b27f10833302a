"""The HTTP core: one request loop, with the policies that decide what follows a failure.

Every call goes through `HTTPCore.request`: one exchange at a time, the answer mapped to an error
(`error_from_response`) or read into the contract's model (`parse`). After a failure the loop asks
one question, whether the call may be tried again:

- idempotent calls (GETs, the PUT that marks messages read, the token request) are tried again
  after 429, 503, 408, timeouts and dropped connections (`is_retryable`);
- other POSTs only when the server surely did not act on them (`surely_not_processed`);
- a call with a `read_back` (sending a chat message) also handles the open case: when a failure
  leaves it open whether the server acted (a dropped connection after the request went out, a
  timeout, another 5xx), the loop settles it (`settle`): it asks `read_back` what the server
  holds at once and, when the request may still be on its way (`may_be_in_flight`), again after
  each backoff delay until the settling window (`SETTLE_FACTOR` times the timeout) has passed, so
  that a request still in flight has landed before the call is sent again. A result ends the
  call; None all through means "not stored: send again" (one retry of the budget). The window's
  waits are its own, not part of `max_retry_seconds`.

Waits follow `backoff_delay` (jittered exponential, or the server's `Retry-After`), bounded by
`max_retries` and `max_retry_seconds` per call. The bearer token and its renewal after a 401 are
an `httpx.Auth` (`_auth.TokenAuth`); recording is a transport (`RecordingTransport`), so each
exchange, the 401 and its retry included, is one line. `sleep`, `random` and `clock` are
injectable so that tests can check the schedule without waiting.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random as _random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar, cast

import httpx
from pydantic import BaseModel

from shopper_chat._version import VERSION
from shopper_chat.client._parse import parse
from shopper_chat.client.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    ConnectError,
    RateLimitError,
    RequestTimeoutError,
    ResponseShapeError,
    ServerError,
    error_from_response,
)
from shopper_chat.client.recording import Recorder

__all__ = [
    "SETTLE_FACTOR",
    "HTTPCore",
    "RecordingTransport",
    "RetryBudget",
    "backoff_delay",
    "is_retryable",
    "may_be_in_flight",
    "outcome_open",
    "parse_retry_after",
    "surely_not_processed",
]

T = TypeVar("T")


USER_AGENT = f"shopper-chat/{VERSION}"

logger = logging.getLogger("shopper_chat.client")
"""Retries and send checks are logged here at INFO (method, path, error class: never a token)."""

# Backoff without a server hint: 0.5 s, 1 s, 2 s, 4 s, 8 s at most, each scaled by 0.5..1.0.
BASE_DELAY = 0.5
MAX_DELAY = 8.0
SETTLE_FACTOR = 2.5
"""The settling window after an open outcome, in client timeouts: a request that is still on
its way (queued in a proxy, slow in the server) when the client gives up at one timeout, and that
lands within this window after that, is found by the read-back instead of being sent twice."""
ATTEMPT = "shopper_chat.attempt"
"""The request extension that tells the recording which try of a call an exchange is."""


def backoff_delay(
    failures: int, *, base: float = BASE_DELAY, cap: float = MAX_DELAY, draw: float = 1.0
) -> float:
    """The library's one backoff formula (when the server gave no `Retry-After`):
    `base * 2**failures`, at most `cap`, scaled into [50 %, 100 %] by `draw` (0..1).

    The HTTP core draws at random (jitter); the chat poller draws 1.0, so that the pause it shows
    is the pause it takes.
    """
    return min(cap, base * 2.0**failures) * (0.5 + 0.5 * draw)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date), or None."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def is_retryable(error: ConnectError) -> bool:
    """May a safe call be tried again after this error? (429, 503, 408, no answer)."""
    if isinstance(error, APIConnectionError):
        return True
    if isinstance(error, (RateLimitError, RequestTimeoutError)):
        return True
    return isinstance(error, ServerError) and error.status_code == 503


def surely_not_processed(error: ConnectError) -> bool:
    """Did the server certainly not act on the request? Then even a POST may be tried again.

    True for a 429 (rate limited before any work), a 408, a 503 in the API's error envelope (the
    service refused it), and a connection that was never made. A dropped connection, a timeout
    while waiting for the answer or another 5xx leave it open.
    """
    if isinstance(error, APIConnectionError):
        return not error.may_have_arrived
    if isinstance(error, (RateLimitError, RequestTimeoutError)):
        return True
    return isinstance(error, ServerError) and error.status_code == 503 and error.code is not None


def outcome_open(error: ConnectError) -> bool:
    """Might the server have acted on a request despite this failure?"""
    if isinstance(error, APIConnectionError):
        return error.may_have_arrived
    return isinstance(error, ServerError)


def may_be_in_flight(error: ConnectError) -> bool:
    """Might the request still be on its way to the server, or in it, after this failure?

    After a timeout or a dropped connection, yes (a proxy may still hold it, the server may still
    be working). After a 5xx outside the API's error envelope too: something in between (a
    gateway) answered, not the API. A 5xx in the API's envelope came from the API once it was done
    with the request: reading once settles it.
    """
    if isinstance(error, APIConnectionError):
        return error.may_have_arrived
    return isinstance(error, ServerError) and error.code is None


@dataclass
class _Settings:
    max_retries: int
    max_retry_seconds: float
    sleep: Callable[[float], object]
    random: Callable[[], float]
    clock: Callable[[], float]


class RetryBudget:
    """The retries left to one call: a count and a total waiting time."""

    def __init__(self, settings: _Settings, max_retries: int | None = None) -> None:
        self._settings = settings
        self.max_retries = settings.max_retries if max_retries is None else max_retries
        self.retries = 0
        self.waited = 0.0

    def delay_for(self, error: ConnectError) -> float | None:
        """How long to wait before the next try, or None when the budget is spent."""
        if self.retries >= self.max_retries:
            return None
        hint = getattr(error, "retry_after", None)
        if hint is not None:
            delay = float(hint)
        else:
            delay = backoff_delay(self.retries, draw=self._settings.random())
        if self.waited + delay > self._settings.max_retry_seconds:
            return None
        return delay

    def wait(self, delay: float, error: ConnectError | None = None) -> None:
        self.retries += 1
        if error is not None:
            logger.info("%s; retry %d of %d in %.2f s", _brief(error), self.retries,
                        self.max_retries, delay)
        self.waited += delay
        if delay > 0:
            self._settings.sleep(delay)


class HTTPCore:
    """An `httpx.Client` with the base URL, plus error mapping, retries and recording."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        max_retries: int,
        max_retry_seconds: float,
        recorder: Recorder | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], object] = time.sleep,
        random: Callable[[], float] = _random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url
        self.recorder = recorder
        self.settings = _Settings(max_retries, max_retry_seconds, sleep, random, clock)
        self.settle_window = SETTLE_FACTOR * timeout
        if recorder is not None:
            transport = RecordingTransport(transport or httpx.HTTPTransport(), recorder)
        self._http = httpx.Client(
            base_url=base_url,
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
        )

    def close(self) -> None:
        self._http.close()

    @property
    def closed(self) -> bool:
        return self._http.is_closed

    def request(
        self,
        method: str,
        path: str,
        result: type[T] | Callable[[Any], T],
        *,
        json_body: Mapping[str, Any] | None = None,
        auth: httpx.Auth | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = True,
        read_back: Callable[[ConnectError], T | None] | None = None,
        max_retries: int | None = None,
    ) -> T:
        """One call: the answer read into `result` (a contract model, or a function of the JSON);
        errors raised as mapped, after the retries the policies allow (see the module)."""
        retry = is_retryable if idempotent else surely_not_processed
        budget = RetryBudget(self.settings, max_retries)
        attempt = 0
        while True:
            attempt += 1
            outcome = self._exchange(method, path, json_body, auth, headers, attempt)
            if isinstance(outcome, httpx.Response):
                if outcome.is_success:
                    return self._read(outcome, result, method, path)
                error: ConnectError = self.error_for(outcome, method, path)
            else:
                error = outcome
            if retry(error):
                delay = budget.delay_for(error)
                if delay is None:
                    raise error
                budget.wait(delay, error)
            elif read_back is not None and outcome_open(error):
                found = self.settle(read_back, error)
                if found is not None:
                    return found
                if budget.retries >= budget.max_retries:
                    raise error
                budget.wait(0.0, error)  # the settling window was the wait
            else:
                raise error

    def settle(
        self, read_back: Callable[[ConnectError], T | None], error: ConnectError
    ) -> T | None:
        """After an open outcome: what `read_back` finds, read at once and, while the request may
        be in flight, again after each backoff delay (the library's one formula) until the
        settling window has passed; None when nothing was found.

        The window is counted in the delays slept (not the clock), so that a test's injected
        sleep sees the same schedule; the reads themselves only add time, never remove it.
        """
        window = self.settle_window if may_be_in_flight(error) else 0.0
        logger.info("%s: the outcome is open; reading back for up to %.2f s before sending again",
                    _brief(error), window)
        waited = 0.0
        polls = 0
        while True:
            found = read_back(error)
            if found is not None or waited >= window:
                if found is None:
                    logger.info("not stored within %.2f s: sending it again", window)
                return found
            delay = min(backoff_delay(polls, draw=self.settings.random()), window - waited)
            polls += 1
            waited += delay
            self.settings.sleep(delay)

    def _exchange(
        self, method: str, path: str, json_body: Mapping[str, Any] | None,
        auth: httpx.Auth | None, headers: Mapping[str, str] | None, attempt: int,
    ) -> httpx.Response | APIConnectionError:
        """One request: any HTTP answer, or the error saying why none came.

        The error is returned, not raised, so that only this exchange's failures reach the retry
        policies: a token fetched by `auth` on the way fails with its own, already retried, error.
        """
        request_headers: dict[str, str] = dict(headers or {})
        content: bytes | None = None
        if json_body is not None:
            content = json.dumps(json_body, ensure_ascii=False).encode("utf-8")
            request_headers["Content-Type"] = "application/json"
        try:
            return self._http.request(method, path, content=content, headers=request_headers,
                                      auth=auth, extensions={ATTEMPT: attempt})
        except httpx.HTTPError as exc:
            return _transport_error(exc, method, path)

    @staticmethod
    def error_for(response: httpx.Response, method: str, path: str) -> APIError:
        """The mapped exception for an error answer."""
        return error_from_response(
            response.status_code,
            response.content,
            method=method,
            path=path,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )

    @staticmethod
    def _read(
        response: httpx.Response, result: type[T] | Callable[[Any], T], method: str, path: str
    ) -> T:
        """A successful answer read into `result` (or `ResponseShapeError` naming the request)."""
        try:
            data = json.loads(response.content)
        except ValueError:
            text = response.text[:60]
            raise ResponseShapeError(
                "(response)", f"expected a JSON body, got {text!r}", method=method, path=path
            ) from None
        try:
            if isinstance(result, type) and issubclass(result, BaseModel):
                return cast(T, parse(result, data))
            return cast(Callable[[Any], T], result)(data)
        except ResponseShapeError as exc:
            raise exc.with_request(method, path) from None


class RecordingTransport(httpx.BaseTransport):
    """Passes each exchange on and records it (`Recorder`): every try, every 401, one line."""

    def __init__(self, inner: httpx.BaseTransport, recorder: Recorder) -> None:
        self._inner = inner
        self._recorder = recorder

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        method = request.method
        path = request.url.raw_path.decode("ascii")
        attempt = int(request.extensions.get(ATTEMPT, 1))
        started = time.perf_counter()
        try:
            response = self._inner.handle_request(request)
            response.read()  # the body, for the record (the client reads it anyway)
        except httpx.HTTPError as exc:
            self._recorder.record(
                method=method, path=path, status=None, duration=time.perf_counter() - started,
                request_body=request.content, response_body=None, attempt=attempt,
                error=_transport_error(exc, method, path).message,
            )
            raise
        self._recorder.record(
            method=method, path=path, status=response.status_code,
            duration=time.perf_counter() - started, request_body=request.content,
            response_body=response.content, attempt=attempt, error=None,
        )
        return response

    def close(self) -> None:
        self._inner.close()


def _brief(error: ConnectError) -> str:
    """`GET /path: RateLimitError (HTTP 429)` for a log line."""
    method = getattr(error, "method", None) or "?"
    path = getattr(error, "path", None) or "?"
    status = getattr(error, "status_code", None)
    said = f" (HTTP {status})" if status else ""
    return f"{method} {path}: {type(error).__name__}{said}"


def _transport_error(exc: httpx.HTTPError, method: str, path: str) -> APIConnectionError:
    """An httpx failure as our error, saying whether the server may have got the request."""
    # Not sent at all: the connection was never made, or no connection was free.
    never_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
    detail = str(exc) or type(exc).__name__
    error: APIConnectionError
    if isinstance(exc, httpx.TimeoutException):
        error = APITimeoutError(f"timed out ({type(exc).__name__}: {detail})", method=method,
                                path=path)
    else:
        error = APIConnectionError(f"no answer ({type(exc).__name__}: {detail})", method=method,
                                   path=path)
    error.may_have_arrived = not never_sent
    return error
