"""`connect()`: a client for the configured server, or for an embedded development server.

This is the one module that knows both sides: the client (`shopper_chat.client`) and the
development server (`shopper_chat.devserver`). They meet over HTTP only.

One rule decides which server and which credentials, for `connect()`, for every notebook (they call
`connect()`) and for `shopper-chat run` (it calls `resolve_connection()` and hands its kernels the
result in their environment):

- The base URL is `base_url=`, else `CONNECT_BASE_URL`; without either, an embedded development
  server is started.
- The client id and secret are the arguments, else `CONNECT_CLIENT_ID` / `CONNECT_CLIENT_SECRET`.
- **Embedded server:** it accepts exactly what the client sends. Your own pair (say, your real
  development server's, exported) is used on both sides; without a complete pair, both sides use
  the local defaults. Exported credentials therefore never break an offline run.
- **A base URL:** a complete pair is used. With neither half, the development server's local
  defaults (what `shopper-chat serve` accepts), unless a user access token (`user_token=` or
  `CONNECT_USER_TOKEN`) is there to authenticate instead. Half a pair is a `ConfigurationError`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from shopper_chat._secret import Secret
from shopper_chat.client._client import (
    ENV_BASE_URL,
    ENV_CLIENT_ID,
    ENV_CLIENT_SECRET,
    ENV_USER_TOKEN,
    Client,
    _check_base_url,
)
from shopper_chat.client.errors import ConfigurationError

__all__ = ["DEFAULT_CLIENT_ID", "DEFAULT_CLIENT_SECRET", "Connection", "connect",
           "resolve_connection"]

# The local pair: what a development server accepts unless told otherwise (defined here, not in
# the server's package, so that a client of a running server does not import the server).
DEFAULT_CLIENT_ID = "shopper-chat-local"
DEFAULT_CLIENT_SECRET = "shopper-chat-local-secret"  # noqa: S105 - a documented local default

CredentialSource = Literal["yours", "local", "user token"]


@dataclass(frozen=True)
class Connection:
    """Where a client connects and with which credentials, decided once for both sides."""

    base_url: str | None
    """The server's base URL; None: start an embedded development server."""
    client_id: str
    """The client id the client sends (and an embedded server accepts); "" for none."""
    client_secret: Secret | None = None
    """The matching secret; None when only a user access token authenticates."""
    credentials: CredentialSource = "local"
    """`yours` (arguments or environment), `local` (the development server's defaults) or
    `user token` (no credentials: the ready user access token is sent)."""

    @property
    def embedded(self) -> bool:
        return self.base_url is None


def _given(value: str | Secret | None, environ: Mapping[str, str], name: str) -> str | None:
    """An argument, else the environment variable; blank counts as not given."""
    if value is None:
        value = environ.get(name)
    if isinstance(value, Secret):
        value = value.get_secret_value()
    text = (value or "").strip()
    return text or None


def _bad_base_url(label: str, url: str) -> str:
    """The sentence for a base URL the client refuses; it never repeats a password in it."""
    parts = urlsplit(url)
    if "@" in url:
        return f"{label} must not carry credentials: set CONNECT_CLIENT_ID / CONNECT_CLIENT_SECRET"
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{label} must not carry a query or a fragment, as {url!r} does"
    return f"{label} must be an http(s) URL such as http://127.0.0.1:8765, not {url!r}"


def resolve_connection(
    base_url: str | None = None,
    client_id: str | None = None,
    client_secret: str | Secret | None = None,
    user_token: str | Secret | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    base_url_label: str = "base_url",
) -> Connection:
    """The server and credentials to use (the rule in this module's docstring).

    `environ` defaults to `os.environ`; `base_url_label` names the base URL argument in the error
    of a bad one (the runner calls it `--base-url`). Raises `ConfigurationError` for a base URL
    that is not an http(s) URL and for half a pair of credentials with a base URL.
    """
    env = os.environ if environ is None else environ
    url = (base_url or "").strip() or None
    label = base_url_label
    if url is None:
        url, label = (env.get(ENV_BASE_URL) or "").strip() or None, ENV_BASE_URL
    if url is not None:
        try:
            url = _check_base_url(url)
        except ConfigurationError:
            raise ConfigurationError(_bad_base_url(label, url)) from None

    given_id = _given(client_id, env, ENV_CLIENT_ID)
    given_secret = _given(client_secret, env, ENV_CLIENT_SECRET)
    if given_id and given_secret:
        return Connection(url, given_id, Secret(given_secret), "yours")
    local = Connection(url, DEFAULT_CLIENT_ID, Secret(DEFAULT_CLIENT_SECRET), "local")
    if url is None:
        return local  # the embedded server accepts what the client sends: the local pair
    if given_id or given_secret:
        missing = ENV_CLIENT_SECRET if given_id else ENV_CLIENT_ID
        raise ConfigurationError(
            f"{missing} is missing: set both {ENV_CLIENT_ID} and {ENV_CLIENT_SECRET} (your "
            "development server's credentials), or neither (the local development server's)"
        )
    if _given(user_token, env, ENV_USER_TOKEN):
        return Connection(url, "", None, "user token")
    return local


def connect(seed: int | None = None, clock: str | None = None, **client_kwargs: Any) -> Client:
    """A client for `base_url=` or `CONNECT_BASE_URL`; without either, for an embedded server.

    The embedded development server starts on loopback with `seed` and `clock` (e.g.
    `"2026-01-15T17:00:00Z"` freezes its time) and accepts the credentials the client uses (the
    module's rule: yours when you gave a pair, else the local defaults); `client.is_embedded` is
    then True and `client.close()` (or leaving `with`) stops it. `seed` and `clock` only matter for
    the embedded server. Other keyword arguments go to `Client`.
    """
    connection = resolve_connection(
        client_kwargs.pop("base_url", None),
        client_kwargs.pop("client_id", None),
        client_kwargs.pop("client_secret", None),
        client_kwargs.get("user_token"),
    )
    # Explicit values, so that `Client` does not read the environment a second time.
    client_kwargs["client_id"] = connection.client_id
    client_kwargs["client_secret"] = connection.client_secret or ""
    if connection.base_url is not None:
        return Client(connection.base_url, **client_kwargs)

    # An exported user access token belongs to another server: the embedded one never issued it.
    client_kwargs.setdefault("user_token", "")
    from shopper_chat import devserver

    options: dict[str, Any] = {}
    if seed is not None:
        options["seed"] = seed
    if clock is not None:
        options["clock"] = clock
    assert connection.client_secret is not None  # embedded: always a pair
    server = devserver.start(
        client_id=connection.client_id,
        client_secret=connection.client_secret.get_secret_value(),
        **options,
    )
    try:
        client = Client(server.base_url, **client_kwargs)
    except BaseException:
        server.stop()
        raise
    client.is_embedded = True
    client._add_close_hook(server.stop)
    return client
