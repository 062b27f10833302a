"""A development server on loopback for fuzzing, with real records for path parameters to hit."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fuzz_support import FuzzWorld
from shopper_chat.devserver import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, start

SEED = 2026
CLOCK = "2026-01-15T17:00:00Z"
ADDRESS = {"address_line_1": "100 Main Street", "postal_code": "94105"}
ITEMS = [{"line_num": "1", "count": 2, "item": {"upc": "000000004011"}}]


def _token(http: httpx.Client, grant: dict[str, str]) -> str:
    answer = http.post("/v2/oauth/token", json={"client_id": DEFAULT_CLIENT_ID,
                                                "client_secret": DEFAULT_CLIENT_SECRET, **grant})
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def _user_token(http: httpx.Client, user_id: str) -> str:
    import base64
    import json

    assertion = base64.b64encode(json.dumps({"user_id": user_id}).encode()).decode()
    return _token(http, {"grant_type": "fulfillment_user_assertion",
                         "scope": "connect:post_checkout", "assertion": assertion})


def _order(http: httpx.Client, user_id: str, order_id: str) -> int:
    """A delivery order for `user_id`; returns a spare (unreserved) service option id."""
    r = http.post(f"/v2/fulfillment/users/{user_id}/service_options/cart/delivery",
                  json={"address": ADDRESS, "items": ITEMS})
    r.raise_for_status()
    options = [o["id"] for o in r.json()["service_options"]]
    hold = http.post(f"/v2/fulfillment/users/{user_id}/service_options/{options[0]}/reserve")
    hold.raise_for_status()
    r = http.post(f"/v2/fulfillment/users/{user_id}/orders/delivery", json={
        "order_id": order_id, "service_option_hold_id": hold.json()["service_option_hold"]["id"],
        "initial_tip_cents": 0, "address": ADDRESS, "items": ITEMS})
    r.raise_for_status()
    return int(options[1])


@pytest.fixture(scope="module")
def fuzz_world() -> Iterator[FuzzWorld]:
    """A server with a customer, an order in `picking` with a shopper and some chat, a second
    order in its own batch (for the sandbox routes to move and cancel), and another customer."""
    server = start(seed=SEED, clock=CLOCK, shopper=True, reply_delay=1)
    try:
        with httpx.Client(base_url=server.base_url, timeout=10) as http:
            client_token = _token(http, {"grant_type": "client_credentials",
                                         "scope": "connect:fulfillment"})
            http.headers["Authorization"] = f"Bearer {client_token}"
            for user in ("fuzz-customer", "fuzz-other"):
                http.post("/v2/fulfillment/users",
                          json={"user_id": user, "first_name": "Sierra"}).raise_for_status()
            option = _order(http, "fuzz-customer", "fuzz-order")
            _order(http, "fuzz-customer", "fuzz-spare")
            _order(http, "fuzz-other", "fuzz-other-order")
            shopper = http.post("/v2/fulfillment_sandbox/shoppers", json={}).json()["id"]
            batches = {}
            for order in ("fuzz-order", "fuzz-spare"):
                r = http.post("/v2/fulfillment_sandbox/batches", json={
                    "shopper_id": shopper, "orders": [{"id": order}]})
                r.raise_for_status()
                batches[order] = r.json()["id"]
                http.post(f"/v2/fulfillment_sandbox/batches/{batches[order]}/advance",
                          json={"workflow_state": "picking"}).raise_for_status()
            user_token = _user_token(http, "fuzz-customer")
            chat = "/v2/post_checkout/chat/fuzz-order/messages"
            http.post(chat, json={"body": "Could you pick ripe bananas, please?"},
                      headers={"Authorization": f"Bearer {user_token}"}).raise_for_status()
            internal = http.get("/_emulator/orders/fuzz-order").json()["internal_id"]
            world = FuzzWorld(
                base_url=server.base_url,
                client_token=client_token,
                user_token=user_token,
                other_user_token=_user_token(http, "fuzz-other"),
                chat_order="fuzz-order",
                spare_order="fuzz-spare",
                known={
                    "user_id": ["fuzz-customer", "fuzz-other"],
                    "order_id": ["fuzz-order", "fuzz-other-order", str(internal)],
                    "service_option_id": [str(option)],
                    "batch_id": [str(batches["fuzz-spare"])],
                    "shopper_id": [str(shopper)],
                    "line_num": ["1", "2"],
                },
            )
        yield world
    finally:
        server.stop()
