"""Malformed requests get the documented envelope, never a 500, and change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from devserver_helpers import Api, Shopping, auth
from shopper_chat.devserver import DevServer, start


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[DevServer, httpx.Client, Shopping, str]]:
    with (
        start(seed=1, clock="2026-01-15T17:00:00Z") as server,
        httpx.Client(base_url=server.base_url) as http,
    ):
        api = Api(http)
        shop = api.shopping("alice", "order-a")
        api.messages(shop.token, shop.order_id)  # let the scripted shopper finish its turn
        api.create_order("bob", "order-b")
        yield server, http, shop, api.client_token()


def _cases(shop: Shopping, client: str, bob: str) -> list[tuple[str, str, dict[str, Any]]]:
    u = auth(shop.token)
    c = auth(client)
    chat = f"/v2/post_checkout/chat/{shop.order_id}/messages"
    batch = f"/v2/fulfillment_sandbox/batches/{shop.batch_id}/advance"
    items = f"/v2/fulfillment_sandbox/shoppers/{shop.shopper_id}/orders/{shop.order_id}/items"
    users = "/v2/fulfillment/users/alice"
    big = "x" * (70 * 1024)
    return [
        ("POST", "/v2/oauth/token", {"content": b"not json"}),
        ("POST", "/v2/oauth/token", {"content": b"[1, 2]"}),
        ("POST", "/v2/oauth/token", {"content": b'{"client_id": NaN}'}),
        ("POST", "/v2/oauth/token", {"content": b"[" * 5000 + b"]" * 5000}),
        ("POST", "/v2/oauth/token", {"content": b"\xff\xfe"}),
        ("POST", "/v2/fulfillment/users",
         {"headers": c, "content": b'{"user_id": "a\\udb07", "first_name": "x"}'}),
        ("POST", "/_emulator/faults", {"content": b'{"\\udb07": 1}'}),
        ("POST", "/v2/oauth/token", {"json": {"client_id": {"a": 1}, "client_secret": [],
                                              "grant_type": None}}),
        ("POST", "/v2/fulfillment/users", {"headers": c, "json": {"user_id": 5}}),
        ("POST", "/v2/fulfillment/users",
         {"headers": c, "json": {"user_id": "", "first_name": " "}}),
        ("POST", "/v2/fulfillment/users", {"headers": c, "content": big.encode()}),
        ("POST", users + "/service_options/cart/delivery", {"headers": c, "json": {"items": []}}),
        ("POST", users + "/service_options/cart/delivery",
         {"headers": c, "json": {"address": {"postal_code": 1}, "items": [{"line_num": "1"}]}}),
        ("POST", users + "/service_options/abc/reserve", {"headers": c}),
        ("POST", users + "/service_options/123/reserve", {"headers": c}),
        ("POST", users + "/orders/delivery", {"headers": c, "json": {"order_id": "n",
         "service_option_hold_id": "1", "initial_tip_cents": -1, "address": {}, "items": [1]}}),
        ("POST", users + "/orders/delivery", {"headers": c, "json": {"order_id": "order-a",
         "service_option_hold_id": 1, "initial_tip_cents": 0,
         "address": {"address_line_1": "a", "postal_code": "1"},
         "items": [{"line_num": "1", "count": 1, "item": {"upc": "1"}}]}}),
        ("POST", users + "/orders/delivery", {"headers": c, "json": {"order_id": "n2",
         "service_option_hold_id": 1, "initial_tip_cents": 0,
         "address": {"address_line_1": "a", "postal_code": "1"},
         "items": [{"line_num": "1", "count": 1, "item": {"upc": "1"}}],
         "user": {"phone_number": 5}}}),
        ("GET", users + "/orders/order-b", {"headers": c}),
        ("GET", "/v2/fulfillment/users/nobody/orders/order-a", {"headers": c}),
        ("POST", "/v2/fulfillment_sandbox/shoppers", {"headers": u, "json": {"email": 3}}),
        ("POST", "/v2/fulfillment_sandbox/batches", {"headers": u, "json": {"shopper_id": "1"}}),
        ("POST", "/v2/fulfillment_sandbox/batches", {"headers": u, "json": {"shopper_id": True,
                                                                              "orders": [{}]}}),
        ("POST", "/v2/fulfillment_sandbox/batches",
         {"headers": u, "json": {"shopper_id": shop.shopper_id, "orders": [{"id": "order-b"}]}}),
        ("POST", batch, {"headers": u, "json": {"workflow_state": 3}}),
        ("POST", batch, {"headers": u, "json": {"workflow_state": "brand_new"}}),
        ("POST", batch, {"headers": auth(bob), "json": {"workflow_state": "checkout"}}),
        ("POST", "/v2/fulfillment_sandbox/batches/1e5/advance", {"headers": u}),
        ("POST", "/v2/fulfillment_sandbox/batches/99999999999999999999999/advance",
         {"headers": u}),
        ("POST", items, {"headers": u, "json": {"item": {}}}),
        ("PUT", items + "/1", {"headers": u, "json": {"status": "found", "delivered_count": -1}}),
        ("POST", "/v2/fulfillment_sandbox/orders/order-a/callbacks", {"headers": u, "json": {}}),
        ("POST", "/v2/fulfillment_sandbox/orders/order-a/callbacks",
         {"headers": auth(bob), "json": {"event_name": "canceled"}}),
        ("GET", "/v2/post_checkout/orders/order-a", {"headers": auth(bob)}),
        ("GET", "/v2/post_checkout/orders/order-a", {"headers": {"Authorization": "Bearer"}}),
        ("GET", chat, {"headers": {**u, "X-Treat-Ids-As-Internal": "true"}}),
        ("POST", chat, {"headers": u, "json": {"body": "x" * 1001}}),
        ("POST", chat, {"headers": u, "json": {"body": None, "image_url": None}}),
        ("POST", chat, {"headers": u, "json": {"body": "hi", "image_url": "javascript:alert(1)"}}),
        ("POST", chat, {"headers": u, "json": {"body": ["hi"]}}),
        ("POST", chat, {"headers": u, "content": big.encode()}),

        ("POST", chat, {"headers": auth(bob), "json": {"body": "hi"}}),
        ("PUT", chat, {"headers": auth(bob)}),
        ("PUT", chat, {"headers": u, "content": b"{oops"}),
        ("PATCH", chat, {"headers": u}),
        ("GET", "/v2/post_checkout/chat/%00/messages", {"headers": u}),
        ("GET", "/v2/unknown", {"headers": u}),
        ("POST", "/_emulator/seed", {"json": {"seed": -1}}),
        ("POST", "/_emulator/clock", {"json": {"advance_seconds": "1"}}),
        ("POST", "/_emulator/orders/order-a/shopper_messages", {"json": {"body": ""}}),
        ("POST", "/_emulator/orders/order-a/shopper_information_removal", {"json": {}}),
        ("PUT", "/_emulator/shopper", {"json": {"script": {"replies": "x"}}}),
        ("PUT", "/_emulator/shopper", {"json": {"enabled": "no"}}),
        ("POST", "/_emulator/faults", {"content": b"nope"}),
        ("DELETE", "/_emulator/faults/x", {}),
        ("GET", "/_emulator/images/other.png", {}),
    ]  # fmt: skip


def test_bad_requests_get_the_envelope_and_change_nothing(
    world: tuple[DevServer, httpx.Client, Shopping, str],
) -> None:
    server, http, shop, client = world
    bob = Api(http).user_token("bob")
    before = server.backend.store.dump()
    clock = http.get("/_emulator/clock").json()
    for method, path, kwargs in _cases(shop, client, bob):
        r = http.request(method, path, **kwargs)
        assert 400 <= r.status_code < 500, (method, path, r.status_code, r.text)
        body = r.json()
        assert set(body) == {"error", "meta"}, (method, path, body)
        assert isinstance(body["error"]["message"], str)
        assert body["error"]["code"] in (None, 1001, 4000, 4001, 9999), (method, path, body)
    after = server.backend.store.dump()
    token_rows = {row for row in after if row[0] == "token"} - set(before)
    assert len(token_rows) == 0
    assert after == before
    assert http.get("/_emulator/clock").json() == clock
