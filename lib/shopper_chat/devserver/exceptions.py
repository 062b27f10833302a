"""The Connect errors, one class per documented error, and the one function that renders them.

```
ConnectHTTPError                       status  code  meta
├── InvalidParameter                   400     1001  {"key": <field>}
├── MultipleErrors                     400     9999  {}   (error.errors = [single errors])
├── Unauthorized                       401     null  {}
├── Forbidden                          403     null  {}
│   └── ChatNotAllowed                 403     null  {}   (chat closed for the order)
├── ResourceNotFound                   404     4000  {}   "Resource not found"
├── UserNotFound                       400     4001  {}   "User ID not found"
├── MethodNotAllowed                   405     null  {}
├── TooManyRequests                    429     2003  {}
└── UnexpectedError                    5xx     5000  {}
```

Codes and messages are the contract's (`ErrorCode`, `Messages`); `invalid()` is the one
translation of validation problems into these errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.responses import Response

from shopper_chat.contract import ErrorCode, ErrorEnvelope, Messages, Problem

__all__ = [
    "ChatNotAllowed",
    "ConnectHTTPError",
    "Forbidden",
    "InvalidParameter",
    "MethodNotAllowed",
    "MultipleErrors",
    "ResourceNotFound",
    "TooManyRequests",
    "Unauthorized",
    "UnexpectedError",
    "UserNotFound",
    "error_response",
    "invalid",
]


class ConnectHTTPError(Exception):
    """An error the server answers with the documented envelope."""

    status_code: int = 400
    code: ErrorCode | None = None
    default_message: str = Messages.UNEXPECTED

    def __init__(
        self,
        message: str | None = None,
        *,
        key: str | None = None,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.key = key
        if status_code is not None:
            self.status_code = status_code
        self.headers = headers or {}
        super().__init__(self.message)

    def envelope(self) -> dict[str, Any]:
        """The error's fields, as the envelope nests them."""
        return {"error": {"message": self.message, "code": self.code},
                "meta": {"key": self.key} if self.key else {}}  # fmt: skip


class InvalidParameter(ConnectHTTPError):
    """400/1001: a parameter is missing or invalid; `meta.key` names it."""

    status_code = 400
    code = ErrorCode.INVALID_PARAMETER
    default_message = Messages.INVALID

    def __init__(self, message: str, *, key: str) -> None:
        super().__init__(message, key=key)


class MultipleErrors(ConnectHTTPError):
    """400/9999: several parameter errors at once."""

    status_code = 400
    code = ErrorCode.SEVERAL
    default_message = Messages.SEVERAL

    def __init__(self, errors: Sequence[InvalidParameter]) -> None:
        super().__init__()
        self.errors = list(errors)

    def envelope(self) -> dict[str, Any]:
        body = super().envelope()
        body["error"]["errors"] = [e.envelope() for e in self.errors]
        return body


class Unauthorized(ConnectHTTPError):
    """401: a missing, invalid or expired access token, or wrong client credentials."""

    status_code = 401
    default_message = Messages.INVALID_TOKEN


class Forbidden(ConnectHTTPError):
    """403: not allowed."""

    status_code = 403
    default_message = Messages.FORBIDDEN


class ChatNotAllowed(Forbidden):
    """403: chat is closed for this order (no shopper yet, delivered or canceled)."""

    default_message = Messages.CHAT_NOT_ALLOWED


class ResourceNotFound(ConnectHTTPError):
    """404/4000: unknown record, or one the token may not see."""

    status_code = 404
    code = ErrorCode.NOT_FOUND
    default_message = Messages.NOT_FOUND


class UserNotFound(ConnectHTTPError):
    """400/4001: the user does not exist."""

    status_code = 400
    code = ErrorCode.USER_NOT_FOUND
    default_message = Messages.USER_NOT_FOUND


class MethodNotAllowed(ConnectHTTPError):
    """405: the route exists but not with this method."""

    status_code = 405
    default_message = Messages.METHOD_NOT_ALLOWED


class TooManyRequests(ConnectHTTPError):
    """429/2003: rate limited."""

    status_code = 429
    code = ErrorCode.RETRY_LATER
    default_message = Messages.RETRY_LATER


class UnexpectedError(ConnectHTTPError):
    """5xx/5000: the server failed."""

    status_code = 500
    code = ErrorCode.UNEXPECTED
    default_message = Messages.UNEXPECTED


def invalid(problems: Sequence[Problem]) -> ConnectHTTPError:
    """Validation problems as the contract answers them: one is 1001 naming its field in
    `meta.key`; several are 9999 listing each."""
    errors = [InvalidParameter(p.message, key=p.key) for p in problems]
    return errors[0] if len(errors) == 1 else MultipleErrors(errors)


def error_response(exc: ConnectHTTPError) -> Response:
    """Render any server error as the documented envelope (the only place errors become HTTP)."""
    # Parts that do not apply (`meta.key`, `error.errors`) are left out, not sent as null.
    body = ErrorEnvelope.model_validate(exc.envelope()).model_dump_json(exclude_unset=True)
    return Response(body, status_code=exc.status_code, headers=exc.headers or None,
                    media_type="application/json")  # fmt: skip
