"""Helpers for the development server's tests: plain httpx requests, as the tutorial sends them."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import httpx
from shopper_chat.devserver import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

ADDRESS = {"address_line_1": "123 Main St", "postal_code": "94105"}
ITEMS = [{"line_num": "1", "count": 2, "item": {"upc": "00041130091522"}}]


def assertion_for(user_id: str) -> str:
    """The documented assertion: Base64 of {"user_id": "<user_id>"}."""
    return base64.b64encode(json.dumps({"user_id": user_id}).encode()).decode()


def auth(token: str) -> dict[str, str]:
    """The tutorial's headers."""
    return {"Accept": "application/json", "Authorization": f"Bearer {token}"}


@dataclass
class Api:
    """A thin helper over one httpx client on the development server."""

    http: httpx.Client

    def client_token(self) -> str:
        response = self.http.post(
            "/v2/oauth/token",
            json={
                "client_id": DEFAULT_CLIENT_ID,
                "client_secret": DEFAULT_CLIENT_SECRET,
                "grant_type": "client_credentials",
                "scope": "connect:fulfillment",
            },
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def user_token(self, user_id: str) -> str:
        response = self.http.post(
            "/v2/oauth/token",
            json={
                "client_id": DEFAULT_CLIENT_ID,
                "client_secret": DEFAULT_CLIENT_SECRET,
                "grant_type": "fulfillment_user_assertion",
                "scope": "connect:post_checkout",
                "assertion": assertion_for(user_id),
            },
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def create_order(self, user_id: str, order_id: str, first_name: str = "Sierra") -> None:
        token = self.client_token()
        h = auth(token)
        r = self.http.post(
            "/v2/fulfillment/users", json={"user_id": user_id, "first_name": first_name}, headers=h
        )
        assert r.status_code == 200, r.text
        r = self.http.post(
            f"/v2/fulfillment/users/{user_id}/service_options/cart/delivery",
            json={"address": ADDRESS, "items": ITEMS},
            headers=h,
        )
        assert r.status_code == 200, r.text
        option_id = r.json()["service_options"][0]["id"]
        r = self.http.post(
            f"/v2/fulfillment/users/{user_id}/service_options/{option_id}/reserve", headers=h
        )
        assert r.status_code == 200, r.text
        hold_id = r.json()["service_option_hold"]["id"]
        r = self.http.post(
            f"/v2/fulfillment/users/{user_id}/orders/delivery",
            json={
                "order_id": order_id,
                "service_option_hold_id": hold_id,
                "initial_tip_cents": 500,
                "address": ADDRESS,
                "items": ITEMS,
            },
            headers=h,
        )
        assert r.status_code == 200, r.text

    def create_shopper(self, token: str) -> int:
        r = self.http.post("/v2/fulfillment_sandbox/shoppers", json={}, headers=auth(token))
        assert r.status_code == 200, r.text
        return int(r.json()["id"])

    def create_batch(self, token: str, shopper_id: int, order_id: str, **extra: Any) -> int:
        r = self.http.post(
            "/v2/fulfillment_sandbox/batches",
            json={"batch_type": "delivery", "shopper_id": shopper_id, "orders": [{"id": order_id}],
                  **extra},
            headers=auth(token),
        )  # fmt: skip
        assert r.status_code == 200, r.text
        return int(r.json()["id"])

    def advance(self, token: str, batch_id: int, state: str | None) -> httpx.Response:
        body = {} if state is None else {"workflow_state": state}
        return self.http.post(
            f"/v2/fulfillment_sandbox/batches/{batch_id}/advance", json=body, headers=auth(token)
        )

    def messages(self, token: str, order_id: str) -> dict[str, Any]:
        r = self.http.get(f"/v2/post_checkout/chat/{order_id}/messages", headers=auth(token))
        assert r.status_code == 200, r.text
        return dict(r.json())

    def send(self, token: str, order_id: str, body: str, image_url: str = "") -> httpx.Response:
        return self.http.post(
            f"/v2/post_checkout/chat/{order_id}/messages",
            json={"body": body, "image_url": image_url},
            headers=auth(token),
        )

    def shopping(self, user_id: str = "user-1", order_id: str = "order-1") -> Shopping:
        """User + order + shopper + batch, advanced to picking."""
        self.create_order(user_id, order_id)
        token = self.user_token(user_id)
        shopper_id = self.create_shopper(token)
        batch_id = self.create_batch(token, shopper_id, order_id)
        r = self.advance(token, batch_id, "picking")
        assert r.status_code == 200, r.text
        return Shopping(user_id, order_id, token, shopper_id, batch_id)


@dataclass
class Shopping:
    user_id: str
    order_id: str
    token: str
    shopper_id: int
    batch_id: int


def assert_error(
    response: httpx.Response, status: int, code: int | None, key: str | None = None
) -> dict[str, Any]:
    """The documented envelope with this status, code and meta.key."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "meta"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if key is None:
        assert body["meta"] == {}
    else:
        assert body["meta"] == {"key": key}
    return dict(body)
