"""Sandbox: shoppers, batches, the workflow table, items, callbacks; order status follows."""

from __future__ import annotations

import pytest
from devserver_helpers import Api, assert_error, auth
from shopper_chat.devserver.workflow import TRANSITIONS, WORKFLOWS


def _order_state(api: Api, token: str, order_id: str) -> str:
    r = api.http.get(f"/v2/post_checkout/orders/{order_id}", headers=auth(token))
    assert r.status_code == 200, r.text
    return str(r.json()["workflow_state"])


def test_order_status_follows_the_batch(api: Api) -> None:
    api.create_order("u", "o")
    token = api.user_token("u")
    r = api.http.get("/v2/post_checkout/orders/o", headers=auth(token))
    assert r.json()["workflow_state"] == "brand_new"
    assert {"id", "workflow_state", "fulfillment_type", "created_at", "window"} <= set(r.json())
    assert r.json()["fulfillment_type"] == "delivery"
    batch = api.create_batch(token, api.create_shopper(token), "o")
    assert _order_state(api, token, "o") == "acknowledged"
    for state in WORKFLOWS["delivery"][2:-1]:
        assert api.advance(token, batch, state.value).json()["workflow_state"] == state.value
        assert _order_state(api, token, "o") == state.value
    assert api.advance(token, batch, None).json()["workflow_state"] == "completed"
    assert _order_state(api, token, "o") == "delivered"


def test_advance_without_a_state_moves_to_the_next(api: Api) -> None:
    api.create_order("u", "o")
    token = api.user_token("u")
    batch = api.create_batch(token, api.create_shopper(token), "o")
    assert api.advance(token, batch, None).json()["workflow_state"] == "picking"
    assert api.advance(token, batch, None).json()["workflow_state"] == "verifying_replacements"


def test_skipping_forward_is_allowed_backwards_same_unknown_are_not(api: Api) -> None:
    api.create_order("u", "o")
    token = api.user_token("u")
    batch = api.create_batch(token, api.create_shopper(token), "o")
    assert api.advance(token, batch, "picking").status_code == 200
    assert_error(api.advance(token, batch, "acknowledged"), 400, 1001, "workflow_state")
    assert_error(api.advance(token, batch, "picking"), 400, 1001, "workflow_state")
    assert_error(api.advance(token, batch, "flying"), 400, 1001, "workflow_state")
    assert_error(api.advance(token, batch, "staged"), 400, 1001, "workflow_state")  # pickup only
    assert _order_state(api, token, "o") == "picking"
    assert api.advance(token, batch, "completed").json()["workflow_state"] == "completed"
    assert_error(api.advance(token, batch, None), 400, 1001, "workflow_state")
    assert_error(api.advance(token, 999999999, "checkout"), 404, 4000)
    assert_error(api.advance(token, 12, "checkout"), 404, 4000)


def test_pickup_workflow(api: Api) -> None:
    api.create_order("u", "o")
    token = api.user_token("u")
    batch = api.create_batch(token, api.create_shopper(token), "o", batch_type="pickup")
    assert api.advance(token, batch, "bags_check").status_code == 200
    assert api.advance(token, batch, "staged").json()["workflow_state"] == "staged"
    assert_error(api.advance(token, batch, "completed"), 400, 1001, "workflow_state")


@pytest.mark.parametrize("batch_type", sorted(WORKFLOWS))
def test_the_table_allows_exactly_the_forward_moves(batch_type: str) -> None:
    states = WORKFLOWS[batch_type]
    for i, a in enumerate(states):
        for j, b in enumerate(states):
            assert ((a, b) in TRANSITIONS[batch_type]) == (j > i)


def test_batch_errors(api: Api) -> None:
    api.create_order("u", "o")
    api.create_order("u", "o2")
    token = api.user_token("u")
    shopper = api.create_shopper(token)
    post = api.http.post
    url = "/v2/fulfillment_sandbox/batches"
    r = post(url, headers=auth(token), json={"shopper_id": 1, "orders": [{"id": "o"}]})
    assert_error(r, 400, 1001, "shopper_id")
    r = post(url, headers=auth(token),
             json={"shopper_id": shopper, "orders": [{"id": "o"}, {"id": "nope"}]})  # fmt: skip
    body = assert_error(r, 400, 1001, "orders[2]")
    assert body["error"]["message"] == "Order not found"
    r = post(url, headers=auth(token),
             json={"shopper_id": shopper, "orders": [{"id": "o", "user_id": "other"}]})  # fmt: skip
    assert_error(r, 400, 1001, "orders[1]")
    r = post(url, headers=auth(token), json={"shopper_id": shopper, "orders": [{"id": "o"}],
                                              "batch_type": "bike"})  # fmt: skip
    assert_error(r, 400, 1001, "batch_type")
    api.create_batch(token, shopper, "o")
    r = post(url, headers=auth(token), json={"shopper_id": shopper, "orders": [{"id": "o"}]})
    assert_error(r, 400, 1001, "orders[1]")
    api.http.post("/v2/fulfillment_sandbox/orders/o2/callbacks", headers=auth(token),
                  json={"event_name": "canceled"})  # fmt: skip
    r = post(url, headers=auth(token), json={"shopper_id": shopper, "orders": [{"id": "o2"}]})
    assert_error(r, 400, 1001, "orders[1]")


def test_create_batch_with_a_workflow_state(api: Api) -> None:
    api.create_order("u", "o")
    token = api.user_token("u")
    r = api.http.post("/v2/fulfillment_sandbox/batches", headers=auth(token),
                      json={"shopper_id": api.create_shopper(token), "orders": [{"id": "o"}],
                            "workflow_state": "picking"})  # fmt: skip
    assert r.json()["workflow_state"] == "picking"
    assert api.messages(token, "o")["chat_messages"][0]["sender_type"] == "driver"


def test_shopper_errors(api: Api) -> None:
    token = api.client_token()
    url = "/v2/fulfillment_sandbox/shoppers"
    r = api.http.post(url, headers=auth(token), json={"email": "not-an-email"})
    assert assert_error(r, 400, 1001, "email")["error"]["message"] == "Invalid email"
    r = api.http.post(url, headers=auth(token), json={"phone": "12"})
    assert assert_error(r, 400, 1001, "phone")["error"]["message"] == "Invalid phone number"
    assert api.http.post(url, headers=auth(token), json={"phone": "4155550100"}).status_code == 200
    r = api.http.post(url, headers=auth(token), json={"phone": "+4155550100"})
    body = assert_error(r, 400, 1001, "phone")
    assert body["error"]["message"] == "An account already exists with this number"


def test_items_and_callbacks(api: Api) -> None:
    shop = api.shopping("u", "o")
    token = shop.token
    base = f"/v2/fulfillment_sandbox/shoppers/{shop.shopper_id}/orders/o/items"
    r = api.http.post(base, headers=auth(token), json={"item": {"upc": "0002"}, "count": 1})
    assert r.json() == {"success": True}
    r = api.http.put(base + "/1", headers=auth(token),
                     json={"status": "replaced", "replacement_item": {"upc": "0003"},
                           "delivered_count": 2})  # fmt: skip
    assert r.json() == {"success": True}
    assert_error(api.http.put(base + "/1", headers=auth(token), json={"status": "replaced"}),
                 400, 1001, "replacement_item")  # fmt: skip
    assert_error(api.http.put(base + "/1", headers=auth(token), json={"status": "lost"}),
                 400, 1001, "status")  # fmt: skip
    assert_error(api.http.put(base + "/99", headers=auth(token), json={"status": "found"}),
                 404, 4000)  # fmt: skip
    other = f"/v2/fulfillment_sandbox/shoppers/{shop.shopper_id + 1}/orders/o/items/1"
    assert_error(api.http.put(other, headers=auth(token), json={"status": "found"}), 404, 4000)
    order = api.http.get("/_emulator/orders/o").json()
    assert order["items"][0]["status"] == "replaced"
    assert order["items"][1]["line_num"] == "2"

    cb = "/v2/fulfillment_sandbox/orders/o/callbacks"
    for event in ("late_delivery", "rescheduled"):
        assert api.http.post(cb, headers=auth(token), json={"event_name": event}).json() == {
            "success": True
        }
    assert_error(api.http.post(cb, headers=auth(token), json={"event_name": "lost"}),
                 400, 1001, "event_name")  # fmt: skip
    assert (
        api.http.post(cb, headers=auth(token), json={"event_name": "canceled"}).status_code == 200
    )
    assert _order_state(api, token, "o") == "canceled"
    assert_error(api.http.post(cb, headers=auth(token), json={"event_name": "canceled"}),
                 400, 1001, "event_name")  # fmt: skip
    assert_error(api.http.post("/v2/fulfillment_sandbox/orders/zz/callbacks", headers=auth(token),
                               json={"event_name": "canceled"}), 404, 4000)  # fmt: skip


def test_a_new_item_without_line_num_gets_the_next_free_number(api: Api) -> None:
    shop = api.shopping("u", "o")  # one item, line_num "1"
    base = f"/v2/fulfillment_sandbox/shoppers/{shop.shopper_id}/orders/o/items"
    item = {"item": {"upc": "0002"}, "count": 1}
    for line_num in ("3", None, None):
        body = item if line_num is None else {**item, "line_num": line_num}
        r = api.http.post(base, headers=auth(shop.token), json=body)
        assert r.json() == {"success": True}, r.text
    order = api.http.get("/_emulator/orders/o").json()
    assert [i["line_num"] for i in order["items"]] == ["1", "3", "4", "5"]
    assert_error(api.http.post(base, headers=auth(shop.token), json={**item, "line_num": "4"}),
                 400, 1001, "line_num")  # an explicit number that is taken is still refused
