"""Fulfillment: users, slots, holds (10 minutes, one per user), orders."""

from __future__ import annotations

from typing import Any

from devserver_helpers import ADDRESS, ITEMS, Api, assert_error, auth


def _hold(api: Api, token: str, user_id: str) -> int:
    h = auth(token)
    r = api.http.post(f"/v2/fulfillment/users/{user_id}/service_options/cart/delivery",
                      json={"address": ADDRESS, "items": ITEMS}, headers=h)  # fmt: skip
    option = r.json()["service_options"][0]["id"]
    r = api.http.post(
        f"/v2/fulfillment/users/{user_id}/service_options/{option}/reserve", headers=h
    )
    return int(r.json()["service_option_hold"]["id"])


def _order(api: Api, token: str, user_id: str, order_id: str, hold: int) -> Any:
    return api.http.post(
        f"/v2/fulfillment/users/{user_id}/orders/delivery",
        json={"order_id": order_id, "service_option_hold_id": hold, "initial_tip_cents": 0,
              "address": ADDRESS, "items": ITEMS},
        headers=auth(token),
    )  # fmt: skip


def test_holds_expire_after_ten_minutes_and_are_replaced(api: Api) -> None:
    token = api.client_token()
    api.http.post("/v2/fulfillment/users", headers=auth(token),
                  json={"user_id": "u", "first_name": "S"})  # fmt: skip
    first = _hold(api, token, "u")
    second = _hold(api, token, "u")
    assert_error(_order(api, token, "u", "o1", first), 400, 1001, "service_option_hold_id")
    api.http.post("/_emulator/clock", json={"advance_seconds": 600})
    body = assert_error(_order(api, token, "u", "o1", second), 400, 1001, "service_option_hold_id")
    assert body["error"]["message"] == "has expired"
    third = _hold(api, token, "u")
    assert _order(api, token, "u", "o1", third).status_code == 200
    # A hold is used once; an order id once.
    assert_error(_order(api, token, "u", "o2", third), 400, 1001, "service_option_hold_id")
    fourth = _hold(api, token, "u")
    assert_error(_order(api, token, "u", "o1", fourth), 400, 1001, "order_id")


def test_unknown_user_and_other_users_hold(api: Api) -> None:
    token = api.client_token()
    for user in ("a", "b"):
        api.http.post("/v2/fulfillment/users", headers=auth(token),
                      json={"user_id": user, "first_name": user.upper()})  # fmt: skip
    hold_a = _hold(api, token, "a")
    assert_error(_order(api, token, "b", "o", hold_a), 400, 1001, "service_option_hold_id")
    assert_error(_order(api, token, "nobody", "o", hold_a), 404, 4001)
    r = api.http.post("/v2/fulfillment/users/nobody/service_options/1/reserve", headers=auth(token))
    assert_error(r, 404, 4001)
    r = api.http.post("/v2/fulfillment/users/b/service_options/99999/reserve", headers=auth(token))
    assert_error(r, 404, 4000)


def test_create_user_again_updates_it(api: Api) -> None:
    token = api.client_token()
    url = "/v2/fulfillment/users"
    api.http.post(url, headers=auth(token), json={"user_id": "u", "first_name": "Sierra"})
    r = api.http.post(url, headers=auth(token), json={"user_id": "u", "first_name": "Sia",
                                                      "locale": "en-US"})  # fmt: skip
    assert r.json()["first_name"] == "Sia" and r.json()["locale"] == "en-US"


def test_order_validation_reports_every_field(api: Api) -> None:
    token = api.client_token()
    r = api.http.post("/v2/fulfillment/users/u/orders/delivery", headers=auth(token),
                      json={"items": [{"line_num": "1", "item": {}}]})  # fmt: skip
    body = r.json()
    assert r.status_code == 400 and body["error"]["code"] == 9999
    keys = {e["meta"]["key"] for e in body["error"]["errors"]}
    assert {"order_id", "service_option_hold_id", "initial_tip_cents", "address",
            "items[1].count", "items[1].item.upc"} <= keys  # fmt: skip
