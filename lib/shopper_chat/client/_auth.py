"""Access tokens: fetched from `POST /v2/oauth/token`, cached, renewed before they expire.

Two kinds, as the API has them:
- the retailer's token (`grant_type: client_credentials`, scope `connect:fulfillment`) for the
  Fulfillment and Sandbox APIs;
- the customer's user access token (`grant_type: fulfillment_user_assertion`, scope
  `connect:post_checkout`, `assertion` = Base64 of `{"user_id": "..."}`) for order status and chat;
  or a ready one from `CONNECT_USER_TOKEN`, which cannot be renewed.

A cached token is renewed when less than `margin` of its life is left (a tenth of `expires_in`,
at most 60 s). Each call sends its token through a `TokenAuth` (an `httpx.Auth`), the one place
where a 401 leads to a fresh token and one more try.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass

import httpx

from shopper_chat._secret import Secret
from shopper_chat.client._http import HTTPCore
from shopper_chat.client.errors import ConfigurationError
from shopper_chat.contract import CLIENT_GRANT, GRANT_SCOPES, USER_GRANT, AccessToken

__all__ = ["TokenAuth", "TokenCache", "user_assertion"]

TOKEN_PATH = "/v2/oauth/token"
MAX_MARGIN = 60.0


def user_assertion(user_id: str) -> str:
    """The `assertion` of the user-token grant: Base64 of `{"user_id": "<user_id>"}`."""
    payload = json.dumps({"user_id": user_id}, separators=(",", ":")).encode("utf-8")
    return base64.b64encode(payload).decode("ascii")


class TokenAuth(httpx.Auth):
    """A bearer token for each request; after a 401, one fresh token and one more try.

    `fetch(renew)` gives the token (`renew=True` after a 401: the token may have expired early or
    been revoked). A ready token that cannot be renewed (`renewable=False`) is sent as it is.
    """

    requires_response_body = True  # the 401's body is read before the retry, freeing its connection

    def __init__(self, fetch: Callable[[bool], Secret], *, renewable: bool = True) -> None:
        self._fetch = fetch
        self.renewable = renewable

    @classmethod
    def fixed(cls, token: Secret) -> TokenAuth:
        """A ready token (`CONNECT_USER_TOKEN`): used as it is, never renewed."""
        return cls(lambda renew: token, renewable=False)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = _bearer(self._fetch(False))
        response = yield request
        if response.status_code == 401 and self.renewable:
            request.headers["Authorization"] = _bearer(self._fetch(True))
            yield request

    def __repr__(self) -> str:
        return f"TokenAuth(renewable={self.renewable})"


def _bearer(token: Secret) -> str:
    return f"Bearer {token.get_secret_value()}"


@dataclass
class _Cached:
    token: Secret
    renew_at: float


class TokenCache:
    """Fetches and caches the client token and each user's token (thread-safe)."""

    def __init__(
        self,
        core: HTTPCore,
        client_id: str | None,
        client_secret: Secret | None,
        *,
        clock: Callable[[], float],
    ) -> None:
        self._core = core
        self._client_id = client_id
        self._client_secret = client_secret
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], _Cached] = {}

    @property
    def has_credentials(self) -> bool:
        return bool(self._client_id) and bool(self._client_secret)

    def client_token(self, *, renew: bool = False) -> Secret:
        """The retailer's token (client credentials)."""
        return self._get(("client", ""), renew, {"grant_type": CLIENT_GRANT,
                                                 "scope": GRANT_SCOPES[CLIENT_GRANT]})

    def user_token(self, user_id: str, *, renew: bool = False) -> Secret:
        """The customer's user access token (user assertion grant)."""
        return self._get(("user", user_id), renew, {
            "grant_type": USER_GRANT,
            "scope": GRANT_SCOPES[USER_GRANT],
            "assertion": user_assertion(user_id),
        })

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()

    def _get(self, key: tuple[str, str], renew: bool, grant: dict[str, str]) -> Secret:
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and not renew and self._clock() < cached.renew_at:
                return cached.token
            if not self.has_credentials:
                raise ConfigurationError(
                    "No client credentials: set CONNECT_CLIENT_ID and CONNECT_CLIENT_SECRET (or "
                    "pass client_id= and client_secret=) to get an access token."
                )
            assert self._client_id is not None and self._client_secret is not None
            body = {
                "client_id": self._client_id,
                "client_secret": self._client_secret.get_secret_value(),
                **grant,
            }
            asked_at = self._clock()
            token = self._core.request("POST", TOKEN_PATH, AccessToken, json_body=body,
                                       idempotent=True)
            if self._core.recorder is not None:
                self._core.recorder.add_secret(token.access_token)
            margin = min(MAX_MARGIN, token.expires_in / 10)
            self._cache[key] = _Cached(token.access_token, asked_at + token.expires_in - margin)
            return token.access_token
