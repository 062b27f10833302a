"""The HTTP core: one exchange at a time, errors mapped, retries for safe calls, recording.

Safe calls (GETs, the PUT that marks messages read, the token request) are retried on 429, 503,
408, timeouts and dropped connections, with jittered exponential backoff, honouring `Retry-After`
when the server sends one, bounded by `max_retries` and by `max_retry_seconds` of waiting in all.
A 401 is answered once per call by fetching a fresh token. Sending a chat message is not a safe
call: `resources/chat.py` decides itself what to do after each failure.

`sleep`, `random` and `clock` are injectable so that tests can check the schedule without waiting.
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
from typing import Any, Protocol

import httpx

from shopper_chat._secret import Secret
from shopper_chat.client.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    ConnectError,
    RateLimitError,
    RequestTimeoutError,
    ResponseShapeError,
    ServerError,
    error_from_response,
)
from shopper_chat.client.recording import Recorder

__all__ = [
    "HTTPCore",
    "RetryBudget",
    "TokenSource",
    "is_retryable",
    "parse_retry_after",
    "surely_not_processed",
]



def _user_agent() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"shopper-chat/{version('shopper-chat')}"
    except PackageNotFoundError:
        return "shopper-chat"


USER_AGENT = _user_agent()

logger = logging.getLogger("shopper_chat.client")
"""Retries and send checks are logged here at INFO (method, path, error class: never a token)."""

# Backoff without a server hint: 0.5 s, 1 s, 2 s, 4 s, 8 s at most, each scaled by 0.5..1.0.
BASE_DELAY = 0.5
MAX_DELAY = 8.0


class TokenSource(Protocol):
    """Where a call's bearer token comes from."""

    def token(self, *, renew: bool = False) -> Secret:
        """The token to send; `renew=True` after a 401 (fetch a fresh one if possible)."""
        ...

    @property
    def renewable(self) -> bool:
        """False for a fixed token (a fresh one cannot be fetched)."""
        ...


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
            ceiling = min(MAX_DELAY, BASE_DELAY * (2**self.retries))
            delay = ceiling * (0.5 + 0.5 * self._settings.random())
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

    def budget(self, max_retries: int | None = None) -> RetryBudget:
        return RetryBudget(self.settings, max_retries)

    # -- one exchange --------------------------------------------------------------------------
    def send_once(
        self,
        method: str,
        path: str,
        *,
        json_body: Mapping[str, Any] | None = None,
        token: Secret | None = None,
        headers: Mapping[str, str] | None = None,
        attempt: int = 1,
    ) -> httpx.Response:
        """One request. Returns any HTTP answer; raises `APIConnectionError` when none came.

        The raised error's `may_have_arrived` says whether the server may have acted on it.
        """
        request_headers: dict[str, str] = dict(headers or {})
        content: bytes | None = None
        if json_body is not None:
            content = json.dumps(json_body, ensure_ascii=False).encode("utf-8")
            request_headers["Content-Type"] = "application/json"
        if token is not None:
            request_headers["Authorization"] = f"Bearer {token.get_secret_value()}"
        wall_started = time.perf_counter()
        try:
            response = self._http.request(method, path, content=content, headers=request_headers)
        except httpx.HTTPError as exc:
            error = _transport_error(exc, method, path)
            self._record(method, path, None, time.perf_counter() - wall_started, content, None,
                         attempt, error.message)
            raise error from None
        self._record(method, path, response.status_code, time.perf_counter() - wall_started,
                     content, response.content, attempt, None)
        return response

    def _record(
        self, method: str, path: str, status: int | None, duration: float,
        request_body: bytes | None, response_body: bytes | None, attempt: int, error: str | None,
    ) -> None:
        if self.recorder is not None:
            self.recorder.record(
                method=method, path=path, status=status, duration=duration,
                request_body=request_body, response_body=response_body, attempt=attempt,
                error=error,
            )

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
    def json_of(response: httpx.Response, method: str, path: str) -> Any:
        """The parsed JSON of a successful answer (or `ResponseShapeError`)."""
        try:
            return json.loads(response.content)
        except ValueError:
            text = response.text[:60]
            raise ResponseShapeError(
                "(response)", f"expected a JSON body, got {text!r}", method=method, path=path
            ) from None

    # -- a whole call --------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Mapping[str, Any] | None = None,
        auth: TokenSource | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = True,
        max_retries: int | None = None,
    ) -> Any:
        """A call whose JSON answer is returned; errors raised as mapped.

        `idempotent` calls (GET, the mark-read PUT, the token) are retried after any retryable
        error; others only when the server surely did not act (`surely_not_processed`).
        """
        budget = self.budget(max_retries)
        renewed = False
        token = auth.token() if auth is not None else None
        attempt = 0
        while True:
            attempt += 1
            error: ConnectError
            try:
                response = self.send_once(
                    method, path, json_body=json_body, token=token, headers=headers,
                    attempt=attempt,
                )
            except APIConnectionError as exc:
                error = exc
            else:
                if response.is_success:
                    return self.json_of(response, method, path)
                error = self.error_for(response, method, path)
                if (
                    isinstance(error, AuthenticationError)
                    and auth is not None
                    and auth.renewable
                    and not renewed
                ):
                    # The token may have expired early or been revoked: one fresh token, once.
                    renewed = True
                    token = auth.token(renew=True)
                    continue
            if not (is_retryable(error) if idempotent else surely_not_processed(error)):
                raise error
            delay = budget.delay_for(error)
            if delay is None:
                raise error
            budget.wait(delay, error)


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
