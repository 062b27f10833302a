"""What every resource shares: a reference to its client, and one way to call and parse."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from shopper_chat.client._client import Client

T = TypeVar("T")


class Resource:
    """One API surface of a client. It holds no state of its own: only its client."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def _retailer(
        self,
        method: str,
        path: str,
        result: type[T] | Callable[[Any], T],
        *,
        body: Mapping[str, Any] | None = None,
        idempotent: bool,
    ) -> T:
        """Call `path` with the retailer's client-credentials token; the answer read as `result`."""
        return self._client._call(method, path, result, auth=self._client._retailer_auth(),
                                  json_body=body, idempotent=idempotent)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._client!r}>"
