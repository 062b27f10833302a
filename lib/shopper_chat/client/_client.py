"""`Client`: one httpx client with a base URL, the tokens, and one resource per API surface."""

from __future__ import annotations

import os
import random as _random
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from shopper_chat._secret import Secret
from shopper_chat.client._auth import TokenAuth, TokenCache
from shopper_chat.client._cursor import ChatCursors
from shopper_chat.client._http import HTTPCore
from shopper_chat.client._parse import MessageCache
from shopper_chat.client._validate import check_id
from shopper_chat.client.errors import ConfigurationError, ConnectError, InvalidRequestError
from shopper_chat.client.recording import Recorder
from shopper_chat.client.resources.chat import Chat
from shopper_chat.client.resources.emulator import Emulator
from shopper_chat.client.resources.fulfillment import Fulfillment
from shopper_chat.client.resources.orders import Orders
from shopper_chat.client.resources.sandbox import Sandbox

__all__ = ["Client"]

ENV_BASE_URL = "CONNECT_BASE_URL"
ENV_CLIENT_ID = "CONNECT_CLIENT_ID"
ENV_CLIENT_SECRET = "CONNECT_CLIENT_SECRET"
ENV_USER_TOKEN = "CONNECT_USER_TOKEN"

T = TypeVar("T")


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def _secret(value: str | Secret | None) -> Secret | None:
    if value is None:
        return None
    secret = value if isinstance(value, Secret) else Secret(value)
    return secret if secret else None


def _check_base_url(base_url: str) -> str:
    if not isinstance(base_url, str):
        raise ConfigurationError(f"base_url must be a str, got {type(base_url).__name__}")
    url = base_url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(
            f"base_url must be an http(s) URL such as https://example.instacart.com, got {url!r}"
        )
    if parts.query or parts.fragment or "@" in parts.netloc:
        raise ConfigurationError("base_url must not carry credentials, a query or a fragment")
    return url


class Client:
    """The Instacart Connect client for the chat tutorial.

    ```python
    client = Client("https://<instacart_development_domain>", client_id=..., client_secret=...)
    client.set_user(user_id)                       # chat calls use this customer's token
    conversation = client.chat.messages(order_id)
    ```

    Args:
        base_url: the server's base URL; None reads `CONNECT_BASE_URL`.
        client_id, client_secret: the retailer's credentials; None reads `CONNECT_CLIENT_ID` /
            `CONNECT_CLIENT_SECRET`. Needed for every token the client fetches itself.
        user_token: a ready user access token for order status and chat calls; None reads
            `CONNECT_USER_TOKEN`. It is used when no credentials can fetch one (or no user is set).
        timeout: seconds for each HTTP exchange.
        max_retries: retries of one call after a retryable failure (0: none).
        max_retry_seconds: total waiting between retries of one call.
        record_to: a path: every exchange is appended there as a JSON line, secrets redacted.
        transport, sleep, random, clock: seams for tests (an httpx transport; the backoff's sleep,
            jitter source and monotonic clock).

    Resources: `client.fulfillment`, `client.sandbox`, `client.orders`, `client.chat`.
    """

    fulfillment: Fulfillment
    sandbox: Sandbox
    orders: Orders
    chat: Chat

    def __init__(
        self,
        base_url: str | None = None,
        client_id: str | None = None,
        client_secret: str | Secret | None = None,
        user_token: str | Secret | None = None,
        timeout: float = 10.0,
        max_retries: int = 4,
        max_retry_seconds: float = 30.0,
        record_to: str | os.PathLike[str] | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], object] = time.sleep,
        random: Callable[[], float] = _random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if base_url is None:
            base_url = _env(ENV_BASE_URL)
        if base_url is None:
            raise ConfigurationError(
                "No base URL: set CONNECT_BASE_URL, pass base_url=, or call shopper_chat.connect() "
                "to start the embedded development server."
            )
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise InvalidRequestError("max_retries must be an int >= 0", param="max_retries")
        if not isinstance(timeout, (int, float)) or timeout <= 0:
            raise InvalidRequestError("timeout must be a positive number", param="timeout")
        if not isinstance(max_retry_seconds, (int, float)) or max_retry_seconds < 0:
            raise InvalidRequestError("max_retry_seconds must be >= 0", param="max_retry_seconds")
        self.base_url = _check_base_url(base_url)
        self.client_id = client_id if client_id is not None else _env(ENV_CLIENT_ID)
        self._client_secret = _secret(
            client_secret if client_secret is not None else _env(ENV_CLIENT_SECRET)
        )
        self._user_token = _secret(user_token if user_token is not None else _env(ENV_USER_TOKEN))
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.max_retry_seconds = float(max_retry_seconds)
        self.is_embedded = False
        self._user_id: str | None = None
        self._on_close: list[Callable[[], None]] = []
        self._closed = False

        recorder = Recorder(record_to) if record_to is not None else None
        if recorder is not None:
            recorder.add_secret(self._client_secret)
            recorder.add_secret(self._user_token)
        self._core = HTTPCore(
            self.base_url,
            timeout=self.timeout,
            max_retries=max_retries,
            max_retry_seconds=self.max_retry_seconds,
            recorder=recorder,
            transport=transport,
            sleep=sleep,
            random=random,
            clock=clock,
        )
        self._clock = clock
        self._tokens = TokenCache(self._core, self.client_id, self._client_secret, clock=clock)
        self._retailer = TokenAuth(lambda renew: self._tokens.client_token(renew=renew))
        self._cursors = ChatCursors()
        # `chat.messages()` parses each message once (again when its read state moves), as the
        # poller does: a long conversation's GET costs the JSON parse and little more.
        self._messages = MessageCache()

        self.fulfillment = Fulfillment(self)
        self.sandbox = Sandbox(self)
        self.orders = Orders(self)
        self.chat = Chat(self)
        self.emulator = Emulator(self)  # the development server's control plane only

    @classmethod
    def from_env(cls, **kwargs: Any) -> Client:
        """A client configured from `CONNECT_*` (keyword arguments override).

        Raises `ConfigurationError` when `CONNECT_BASE_URL` is not set.
        """
        if kwargs.get("base_url") is None and _env(ENV_BASE_URL) is None:
            raise ConfigurationError(
                "CONNECT_BASE_URL is not set: export it (the base URL of your Instacart "
                "development server), or call shopper_chat.connect() for the embedded one."
            )
        return cls(**kwargs)

    # -- the customer ------------------------------------------------------------------------
    @property
    def user_id(self) -> str | None:
        """The customer whose token order status and chat calls use (see `set_user`)."""
        return self._user_id

    def set_user(self, user_id: str) -> None:
        """Use this customer's user access token for order status and chat calls.

        The token comes from the user-assertion grant (fetched on first use, cached, renewed);
        without client credentials, the ready `user_token` is used instead.
        """
        self._user_id = check_id("user_id", user_id)

    @property
    def recording(self) -> str | None:
        """The path of the session's recording, or None."""
        recorder = self._core.recorder
        return str(recorder.path) if recorder is not None else None

    # -- for the resources -------------------------------------------------------------------
    def _retailer_auth(self) -> TokenAuth:
        """The token for the Fulfillment and Sandbox APIs."""
        if self._tokens.has_credentials:
            return self._retailer
        if self._user_token is not None:
            return TokenAuth.fixed(self._user_token)
        return self._retailer  # raises ConfigurationError when a token is asked for

    def _user_auth(self) -> TokenAuth:
        """The token for the post-checkout APIs (order status, chat)."""
        user_id = self._user_id
        if user_id is not None and self._tokens.has_credentials:
            return TokenAuth(lambda renew: self._tokens.user_token(user_id, renew=renew))
        if self._user_token is not None:
            return TokenAuth.fixed(self._user_token)
        return self._retailer

    def _call(
        self,
        method: str,
        path: str,
        result: type[T] | Callable[[Any], T],
        *,
        auth: TokenAuth | None,
        json_body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool,
        read_back: Callable[[ConnectError], T | None] | None = None,
        max_retries: int | None = None,
    ) -> T:
        self._check_open()
        return self._core.request(
            method, path, result, json_body=json_body, auth=auth, headers=headers,
            idempotent=idempotent, read_back=read_back, max_retries=max_retries,
        )

    def _check_open(self) -> None:
        if self._closed:
            raise ConfigurationError("This client is closed: make a new one (or use connect()).")

    # -- life cycle ----------------------------------------------------------------------------
    def _add_close_hook(self, hook: Callable[[], None]) -> None:
        self._on_close.append(hook)

    def close(self) -> None:
        """Close the connections (and stop the embedded development server this client owns)."""
        if self._closed:
            return
        self._closed = True
        self._core.close()
        hooks, self._on_close = self._on_close, []
        for hook in reversed(hooks):
            hook()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        parts = [f"base_url={self.base_url!r}", f"client_id={self.client_id!r}"]
        if self._user_id is not None:
            parts.append(f"user_id={self._user_id!r}")
        if self.is_embedded:
            parts.append("embedded=True")
        return f"Client({', '.join(parts)})"
