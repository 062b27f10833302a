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
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

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
    "envelope",
    "error_response",
]


class ConnectHTTPError(Exception):
    """An error the server answers with the documented envelope."""

    status_code: int = 400
    code: int | None = None
    default_message: str = "There was an error"

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

    def body(self) -> dict[str, Any]:
        """The JSON body of this error."""
        return envelope(self.message, self.code, self.key)


class InvalidParameter(ConnectHTTPError):
    """400/1001: a parameter is missing or invalid; `meta.key` names it."""

    status_code = 400
    code = 1001
    default_message = "is invalid"

    def __init__(self, message: str, *, key: str) -> None:
        super().__init__(message, key=key)


class MultipleErrors(ConnectHTTPError):
    """400/9999: several parameter errors at once."""

    status_code = 400
    code = 9999
    default_message = "There were issues with your request"

    def __init__(self, errors: list[InvalidParameter]) -> None:
        super().__init__()
        self.errors = errors

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "code": 9999,
                "errors": [e.body() for e in self.errors],
            },
            "meta": {},
        }


class Unauthorized(ConnectHTTPError):
    """401: a missing, invalid or expired access token, or wrong client credentials."""

    status_code = 401
    default_message = "Invalid access token"


class Forbidden(ConnectHTTPError):
    """403: not allowed."""

    status_code = 403
    default_message = "You are not allowed to perform this action"


class ChatNotAllowed(Forbidden):
    """403: chat is closed for this order (no shopper yet, delivered or canceled)."""

    default_message = "Sending a message is not allowed at this time"


class ResourceNotFound(ConnectHTTPError):
    """404/4000: unknown record, or one the token may not see."""

    status_code = 404
    code = 4000
    default_message = "Resource not found"


class UserNotFound(ConnectHTTPError):
    """400/4001: the user does not exist."""

    status_code = 400
    code = 4001
    default_message = "User ID not found"


class MethodNotAllowed(ConnectHTTPError):
    """405: the route exists but not with this method."""

    status_code = 405
    default_message = "Method not allowed"


class TooManyRequests(ConnectHTTPError):
    """429/2003: rate limited."""

    status_code = 429
    code = 2003
    default_message = "Too many requests, retry later"


class UnexpectedError(ConnectHTTPError):
    """5xx/5000: the server failed."""

    status_code = 500
    code = 5000
    default_message = "An unexpected error occurred"


def envelope(message: str, code: int | None, key: str | None = None) -> dict[str, Any]:
    """The documented single-error body."""
    return {"error": {"message": message, "code": code}, "meta": {"key": key} if key else {}}


def error_response(exc: ConnectHTTPError) -> JSONResponse:
    """Render any server error as the documented envelope (the only place errors become HTTP)."""
    return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers or None)
