"""Every error the client raises, in one tree.

```
ConnectError                          anything this library raises on purpose
├── ConfigurationError                no base URL, no credentials for a token that is needed
├── InvalidRequestError (ValueError)  bad input, refused before any request is made
│   └── InvalidTypeError (TypeError)  an argument of the wrong type
├── ResponseShapeError                a 2xx answer not in the documented shape (names the field)
├── WaitTimeout (TimeoutError)        `wait_for_messages` gave up
├── APIConnectionError                no HTTP answer: refused, dropped connection, DNS, TLS
│   └── APITimeoutError               no answer within the timeout
└── APIError                          the server answered with an error status
    ├── InvalidParameterError         code 1001 or 9999 (several), else HTTP 400
    ├── AuthenticationError           HTTP 401 (token missing, invalid or expired)
    ├── PermissionDeniedError         HTTP 403
    │   └── ChatNotAllowedError       HTTP 403 on a chat path ("not allowed at this time")
    ├── NotFoundError                 code 4000, else HTTP 404
    │   └── UserNotFoundError         code 4001 ("User ID not found", HTTP 400)
    ├── RequestTimeoutError           HTTP 408
    ├── RateLimitError                code 2003, else HTTP 429 (`retry_after` from Retry-After)
    └── ServerError                   code 5000, else HTTP 5xx
```

`error_from_response` is the one place that maps an answer to a class: the API's documented `code`
first, then the HTTP status (a 400 with code 4001 is a `UserNotFoundError`, not an
`InvalidParameterError`). Every `APIError` keeps `status_code`, `code`, `meta_key` (the `meta.key`
naming the faulty parameter), the API's `message`, and the request's `method` and `path`: never a
header, a token or a request body.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shopper_chat.contract import ErrorCode, Problem

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "ChatNotAllowedError",
    "ConfigurationError",
    "ConnectError",
    "ErrorDetail",
    "InvalidParameterError",
    "InvalidRequestError",
    "InvalidTypeError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestTimeoutError",
    "ResponseShapeError",
    "ServerError",
    "UserNotFoundError",
    "WaitTimeout",
    "error_from_response",
]

CHAT_PATH_PREFIX = "/v2/post_checkout/chat/"


def _restore(cls: type[ConnectError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class ConnectError(Exception):
    """The base of every error this library raises on purpose."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructors do not survive the default pickling; the state does.
        return (_restore, (type(self), self.args, dict(self.__dict__)))


class ConfigurationError(ConnectError):
    """The client is missing a setting it needs (base URL, client id or secret)."""


class InvalidRequestError(ConnectError, ValueError):
    """Bad input, refused before any request was made.

    `param` names the (first) faulty argument; `problems` lists every problem found, each a
    `shopper_chat.contract.Problem` (field key and the API's words), when the contract's types
    found them.
    """

    def __init__(
        self, message: str, *, param: str | None = None, problems: Sequence[Problem] = ()
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.problems = tuple(problems)


class InvalidTypeError(InvalidRequestError, TypeError):
    """An argument of the wrong type, refused before any request was made."""


class ResponseShapeError(ConnectError):
    """A successful answer that is not in the documented shape.

    `field` is the path of the offending value (`chat_messages[2].created_at`), `method` and
    `path` the request that got it.
    """

    def __init__(
        self, field: str, problem: str, *, method: str | None = None, path: str | None = None
    ) -> None:
        self.field = field
        self.problem = problem
        self.method = method
        self.path = path
        where = f" (answer to {method} {path})" if method and path else ""
        super().__init__(f"{field}: {problem}{where}")

    def with_request(self, method: str, path: str) -> ResponseShapeError:
        """The same error, saying which request got the answer."""
        return ResponseShapeError(self.field, self.problem, method=method, path=path)


class WaitTimeout(ConnectError, TimeoutError):
    """Waiting for messages ended before enough of them arrived."""


class APIConnectionError(ConnectError):
    """No HTTP answer: connection refused or dropped, DNS or TLS failure.

    For a send, a dropped connection leaves it open whether the server stored the message;
    `chat.send` settles that itself before it raises.
    """

    status_code: int | None = None
    may_have_arrived: bool = True
    """False when the request surely never reached the server (connection refused)."""

    def __init__(self, message: str, *, method: str, path: str) -> None:
        super().__init__(f"{message} [{method} {path}]")
        self.message = message
        self.method = method
        self.path = path


class APITimeoutError(APIConnectionError):
    """No answer within the client's timeout."""


@dataclass(frozen=True)
class ErrorDetail:
    """One element of a multiple-error answer (outer code 9999)."""

    message: str
    code: int | None
    meta_key: str | None


class APIError(ConnectError):
    """The server answered with an error status.

    Attributes: `status_code`, `code` (the API's error code, or None), `meta_key` (the parameter
    the error is about, or None), `message` (the API's own words), `method`, `path`,
    `errors` (every single error of a 9999 answer, else just this one), `retry_after`
    (seconds, from the Retry-After header, or None).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: int | None = None,
        meta_key: str | None = None,
        method: str,
        path: str,
        errors: tuple[ErrorDetail, ...] = (),
        retry_after: float | None = None,
    ) -> None:
        self.message = message
        self.status_code = status_code
        self.code = code
        self.meta_key = meta_key
        self.method = method
        self.path = path
        self.errors = errors or (ErrorDetail(message, code, meta_key),)
        self.retry_after = retry_after
        super().__init__(self._describe())

    def _describe(self) -> str:
        said = self.message
        if self.meta_key and not said.startswith(self.meta_key):
            said = f"{self.meta_key} {said}"
        facts = [f"HTTP {self.status_code}"]
        if self.code is not None:
            facts.append(f"code {self.code}")
        if self.meta_key is not None:
            facts.append(f"key {self.meta_key!r}")
        return f"{said} ({', '.join(facts)}) [{self.method} {self.path}]"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status_code={self.status_code}, code={self.code!r}, "
            f"meta_key={self.meta_key!r}, message={self.message!r}, method={self.method!r}, "
            f"path={self.path!r})"
        )


class InvalidParameterError(APIError):
    """Code 1001 (or 9999, several errors), HTTP 400: `meta_key` names the parameter."""


class AuthenticationError(APIError):
    """HTTP 401: the access token is missing, invalid or expired (or the credentials are wrong)."""


class PermissionDeniedError(APIError):
    """HTTP 403: not allowed."""


class ChatNotAllowedError(PermissionDeniedError):
    """HTTP 403 on a chat path: chat is off for this order (not yet batched, delivered, canceled,
    or shopper information removed)."""


class NotFoundError(APIError):
    """Code 4000, HTTP 404: no such record (or not one this token may see)."""


class UserNotFoundError(NotFoundError):
    """Code 4001: "User ID not found" (HTTP 400)."""


class RequestTimeoutError(APIError):
    """HTTP 408: the server gave up waiting for the request."""


class RateLimitError(APIError):
    """Code 2003, HTTP 429: too many requests; back off (`retry_after` when the server says)."""


class ServerError(APIError):
    """Code 5000, HTTP 5xx: the server failed."""


_BY_CODE: dict[int, type[APIError]] = {
    ErrorCode.INVALID_PARAMETER: InvalidParameterError,
    ErrorCode.SEVERAL: InvalidParameterError,
    ErrorCode.RETRY_LATER: RateLimitError,
    ErrorCode.NOT_FOUND: NotFoundError,
    ErrorCode.USER_NOT_FOUND: UserNotFoundError,
    ErrorCode.UNEXPECTED: ServerError,
}

_BY_STATUS: dict[int, type[APIError]] = {
    400: InvalidParameterError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: RequestTimeoutError,
    429: RateLimitError,
}


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _single(envelope: Mapping[str, Any]) -> ErrorDetail | None:
    """One `{"error": {"message", "code"}, "meta": {"key"}}`, or None if it is not one."""
    error = envelope.get("error")
    if not isinstance(error, Mapping):
        return None
    message = error.get("message")
    meta = envelope.get("meta")
    key = meta.get("key") if isinstance(meta, Mapping) else None
    return ErrorDetail(
        message=str(message) if message is not None else "",
        code=_int_or_none(error.get("code")),
        meta_key=str(key) if key is not None else None,
    )


def parse_error_body(body: bytes | str | Any) -> tuple[ErrorDetail | None, tuple[ErrorDetail, ...]]:
    """The envelope's outer error and its list of single errors (for 9999), if it has one."""
    data = body
    if isinstance(body, (bytes, str)):
        try:
            data = json.loads(body) if body else None
        except ValueError:
            return None, ()
    if not isinstance(data, Mapping):
        return None, ()
    outer = _single(data)
    if outer is None:
        return None, ()
    inner: list[ErrorDetail] = []
    error = data["error"]
    listed = error.get("errors") if isinstance(error, Mapping) else None
    if isinstance(listed, list):
        for item in listed:
            single = _single(item) if isinstance(item, Mapping) else None
            if single is not None:
                inner.append(single)
    return outer, tuple(inner)


def error_from_response(
    status_code: int,
    body: bytes | str | Any,
    *,
    method: str,
    path: str,
    retry_after: float | None = None,
) -> APIError:
    """The one mapping from an error answer to its exception: documented `code` first, then status.

    `body` is the raw answer (bytes or text) or its parsed JSON. An answer without the documented
    envelope still maps by status, with the reason phrase as its message.
    """
    outer, inner = parse_error_body(body)
    code = outer.code if outer else None
    meta_key = outer.meta_key if outer else None
    message = outer.message if outer and outer.message else _reason(status_code)
    if code == ErrorCode.SEVERAL and inner:
        # Several errors: the first one names the parameter; the message lists them all.
        meta_key = inner[0].meta_key
        message = "; ".join(
            f"{d.meta_key} {d.message}" if d.meta_key else d.message for d in inner
        )

    cls: type[APIError] | None = _BY_CODE.get(code) if code is not None else None
    if cls is None:
        if status_code == 403 and path.startswith(CHAT_PATH_PREFIX):
            cls = ChatNotAllowedError
        elif status_code >= 500:
            cls = ServerError
        else:
            cls = _BY_STATUS.get(status_code, APIError)
    return cls(
        message,
        status_code=status_code,
        code=code,
        meta_key=meta_key,
        method=method,
        path=path,
        errors=inner,
        retry_after=retry_after,
    )


def _reason(status_code: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status_code).phrase
    except ValueError:
        return f"HTTP {status_code}"
