"""The HTTP core's pure parts: Retry-After, the retry budget, and what may be tried again."""

from __future__ import annotations

from datetime import datetime, timezone

import httpx
import pytest
from shopper_chat import errors
from shopper_chat.client._http import (
    RetryBudget,
    _Settings,
    _transport_error,
    is_retryable,
    parse_retry_after,
    surely_not_processed,
)

NOW = datetime(2026, 1, 15, 17, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("3", 3.0), ("0.5", 0.5), (" 10 ", 10.0), ("-4", 0.0), ("", None), (None, None),
     ("soon", None), ("nan", None), ("Thu, 15 Jan 2026 17:00:07 GMT", 7.0),
     ("Thu, 15 Jan 2026 16:59:00 GMT", 0.0)],
)
def test_retry_after_in_seconds_or_as_a_date(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


def budget(max_retries: int = 3, max_seconds: float = 10.0, draw: float = 1.0) -> RetryBudget:
    waits: list[float] = []
    settings = _Settings(max_retries, max_seconds, waits.append, lambda: draw, lambda: 0.0)
    return RetryBudget(settings)


def rate_limited(retry_after: float | None = None) -> errors.RateLimitError:
    return errors.RateLimitError("Too many requests, retry later", status_code=429, code=2003,
                                 method="GET", path="/x", retry_after=retry_after)


def test_the_budget_doubles_caps_and_counts() -> None:
    b = budget(max_retries=6, max_seconds=100.0)
    delays = []
    while (delay := b.delay_for(rate_limited())) is not None:
        delays.append(delay)
        b.wait(delay)
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]


def test_the_budget_honours_the_hint_and_the_total_time() -> None:
    b = budget(max_retries=10, max_seconds=10.0)
    assert b.delay_for(rate_limited(6.0)) == 6.0
    b.wait(6.0)
    assert b.delay_for(rate_limited(6.0)) is None  # 12 s in all would be too long
    assert b.delay_for(rate_limited()) == 1.0  # second retry: a 1 s ceiling, draw 1.0


def test_jitter_scales_each_delay_between_half_and_all() -> None:
    assert budget(draw=0.0).delay_for(rate_limited()) == 0.25
    assert budget(draw=1.0).delay_for(rate_limited()) == 0.5


def api(status: int, code: int | None = None) -> errors.APIError:
    return errors.error_from_response(
        status,
        {"error": {"message": "m", "code": code}, "meta": {}} if code is not None else b"",
        method="POST", path="/v2/post_checkout/chat/o/messages",
    )


@pytest.mark.parametrize(
    ("error", "retry_safe", "retry_any"),
    [
        (api(429, 2003), True, True),
        (api(503, 5000), True, True),
        (api(503), True, False),   # a 503 without the envelope may come from a proxy mid-way
        (api(408), True, True),
        (api(500, 5000), False, False),
        (api(502), False, False),
        (api(400, 1001), False, False),
        (api(404, 4000), False, False),
    ],
)
def test_what_may_be_tried_again(error: errors.APIError, retry_safe: bool,
                                 retry_any: bool) -> None:
    assert is_retryable(error) is retry_safe
    assert surely_not_processed(error) is retry_any


@pytest.mark.parametrize(
    ("exc", "timeout", "may_have_arrived"),
    [
        (httpx.ConnectError("refused"), False, False),
        (httpx.ConnectTimeout("slow connect"), True, False),
        (httpx.PoolTimeout("no connection free"), True, False),
        (httpx.ReadTimeout("slow answer"), True, True),
        (httpx.WriteTimeout("slow upload"), True, True),
        (httpx.RemoteProtocolError("Server disconnected without sending a response."), False,
         True),
        (httpx.ReadError("reset"), False, True),
    ],
)
def test_transport_failures_say_whether_the_server_may_have_acted(
    exc: httpx.HTTPError, timeout: bool, may_have_arrived: bool
) -> None:
    error = _transport_error(exc, "POST", "/v2/post_checkout/chat/o/messages")
    assert isinstance(error, errors.APITimeoutError) is timeout
    assert error.may_have_arrived is may_have_arrived
    assert is_retryable(error)
    assert surely_not_processed(error) is (not may_have_arrived)
    assert "POST /v2/post_checkout/chat/o/messages" in str(error)
