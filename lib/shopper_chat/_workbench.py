"""`connect()`: a client for the configured server, or for an embedded development server.

This is the one module that knows both sides: the client (`shopper_chat.client`) and the
development server (`shopper_chat.devserver`). They meet over HTTP only.
"""

from __future__ import annotations

import os
from typing import Any

from shopper_chat.client._client import ENV_BASE_URL, Client

__all__ = ["connect"]


def connect(seed: int | None = None, clock: str | None = None, **client_kwargs: Any) -> Client:
    """A client for `base_url=` or `CONNECT_BASE_URL`; without either, for an embedded server.

    The embedded development server starts on loopback with `seed` and `clock` (e.g.
    `"2026-01-15T17:00:00Z"` freezes its time) and its default local credentials;
    `client.is_embedded` is then True and `client.close()` (or leaving `with`) stops it.
    `seed` and `clock` only matter for the embedded server. Other keyword arguments go to `Client`.
    """
    base_url = client_kwargs.pop("base_url", None) or os.environ.get(ENV_BASE_URL, "").strip()
    if base_url:
        return Client(base_url, **client_kwargs)

    from shopper_chat import devserver

    options: dict[str, Any] = {}
    if seed is not None:
        options["seed"] = seed
    if clock is not None:
        options["clock"] = clock
    server = devserver.start(**options)
    try:
        if client_kwargs.get("client_id") is None:
            client_kwargs["client_id"] = devserver.DEFAULT_CLIENT_ID
        if client_kwargs.get("client_secret") is None:
            client_kwargs["client_secret"] = devserver.DEFAULT_CLIENT_SECRET
        client = Client(server.base_url, **client_kwargs)
    except BaseException:
        server.stop()
        raise
    client.is_embedded = True
    client._add_close_hook(server.stop)
    return client
