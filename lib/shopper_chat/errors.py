"""The client's errors (`shopper_chat.client.errors`), importable as `shopper_chat.errors`.

The tree and the mapping from the API's `code` and HTTP status are documented in
`shopper_chat.client.errors`.
"""

from shopper_chat.client.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    ChatNotAllowedError,
    ConfigurationError,
    ConnectError,
    ErrorDetail,
    InvalidParameterError,
    InvalidRequestError,
    InvalidTypeError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeoutError,
    ResponseShapeError,
    ServerError,
    UserNotFoundError,
    WaitTimeout,
    error_from_response,
)

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
