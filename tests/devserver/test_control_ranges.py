"""Every control-plane field has a range: extreme values are refused with 400/1001 naming the
field (or accepted when they are in range), and the server answers every route afterwards."""

from __future__ import annotations

import json
from typing import Any

import pytest
from devserver_helpers import ADDRESS, ITEMS, Api, Shopping, assert_error, auth
from shopper_chat.devserver.clock import LATEST
from shopper_chat.devserver.control import (
    AddFaultRequest,
    ClockRequest,
    EmptyRequest,
    InformationRemovalRequest,
    SeedRequest,
    ShopperMessageRequest,
    ShopperRequest,
)
from shopper_chat.devserver.shopper import MAX_DELAY

# As JSON text: 10**400 is an integer literal no float can hold; 1e400 reads as infinity.
EXTREMES = ["1e12", "1e300", "1e400", "-1", '"NaN"', '"Infinity"', '"-Infinity"',
            '"9999-12-31T22:30:00Z"', '"0001-01-01T00:00:00Z"', "0", "-0.0", "true", "null",
            str(10**30), str(10**400), "[]", "{}"]  # fmt: skip

_ORDER = "/_emulator/orders/order-1"
# Fault rules the sweep adds must not get in the checks' way: a method and a path no check uses
# (either alone keeps a rule away when the other is the field under test).
NOWHERE = {"method": "TRACE", "path": "/nowhere/*"}
ROUTES: list[tuple[str, str, type[Any], dict[str, Any]]] = [
    ("POST", "/_emulator/seed", SeedRequest, {}),
    ("POST", "/_emulator/clock", ClockRequest, {}),
    ("POST", "/_emulator/faults", AddFaultRequest, {**NOWHERE, "status": 503}),
    ("PUT", "/_emulator/shopper", ShopperRequest, {}),
    ("POST", _ORDER + "/shopper_messages", ShopperMessageRequest, {"body": "hi"}),
    ("POST", _ORDER + "/shopper_information_removal", InformationRemovalRequest,
     {"enabled": False}),
    ("POST", "/_emulator/reset", EmptyRequest, {}),
]  # fmt: skip
SCRIPT_DELAYS = ["greeting_delay", "reply_delay", "replacement.delay"]

CASES = [(method, path, field, base) for method, path, model, base in ROUTES
         for field in [*model.model_fields, "unknown_field"]]  # fmt: skip


def _body(base: dict[str, Any], field: str, raw: str) -> str:
    """`base` with `field` set to the JSON text `raw`, as JSON text (big numbers kept exact)."""
    if field in ("status", "drop") and "status" in base:
        base = {k: v for k, v in base.items() if k != "status"}  # the field under test decides
    others = {k: v for k, v in base.items() if k != field}
    inner = json.dumps(others)[1:-1]
    return "{" + (inner + ", " if inner else "") + f'"{field}": {raw}' + "}"


def _still_answers(api: Api, shop: Shopping) -> None:
    """Every kind of route answers, none with a 500 (new tokens: the clock may have moved)."""
    assert api.http.get("/_emulator/health").status_code == 200
    assert api.http.get("/_emulator/clock").status_code == 200
    assert api.http.get("/_emulator/faults").status_code == 200
    assert api.http.get("/_emulator/shopper").status_code == 200
    token = api.client_token()
    slots = api.http.post(f"/v2/fulfillment/users/{shop.user_id}/service_options/cart/delivery",
                          json={"address": ADDRESS, "items": ITEMS}, headers=auth(token))
    assert slots.status_code == 200, slots.text
    user = api.user_token(shop.user_id)
    chat = f"/v2/post_checkout/chat/{shop.order_id}/messages"
    got = api.http.get(chat, headers=auth(user))
    assert got.status_code in (200, 403), got.text  # 403: information removal switched on
    sent = api.send(user, shop.order_id, "still there?")
    assert sent.status_code in (200, 403), sent.text  # 403: chat closed
    assert api.http.get(chat, headers=auth(user)).status_code in (200, 403)


@pytest.mark.parametrize(("method", "path", "field", "base"), CASES,
                         ids=[f"{c[1].rsplit('/', 1)[-1]}.{c[2]}" for c in CASES])
def test_extremes_are_refused_by_name_and_break_nothing(
    api: Api, method: str, path: str, field: str, base: dict[str, Any]
) -> None:
    shop = api.shopping()
    for raw in EXTREMES:
        r = api.http.request(method, path, content=_body(base, field, raw),
                             headers={"Content-Type": "application/json"})  # fmt: skip
        assert r.status_code in (200, 400), f"{field}={raw}: {r.status_code} {r.text}"
        if r.status_code == 400:
            body = r.json()
            assert body["error"]["code"] in (1001, 9999), r.text
            keys = [body["meta"].get("key")] + [e["meta"]["key"] for e in
                                                body["error"].get("errors", [])]
            # Whole-body rules name their own key: "exactly one of now, advance_seconds, real"
            # (null counts as absent) and "text or image" (`body`, then `image_url`).
            exactly_one = "exactly one of" in body["error"]["message"] and raw == "null"
            assert field in keys or exactly_one or (field == "body" and "image_url" in keys), (
                raw, r.text)
        _still_answers(api, shop)
        api.http.delete("/_emulator/faults")
        api.http.post(_ORDER + "/shopper_information_removal", json={"enabled": False})


@pytest.mark.parametrize("key", SCRIPT_DELAYS)
def test_script_delays_are_refused_out_of_range(api: Api, key: str) -> None:
    shop = api.shopping()
    template = '{"script": {"' + key + '": RAW}}'
    if key == "replacement.delay":
        template = ('{"script": {"replacement": {"body": "b", "image_url": "https://x.test/a.png",'
                    ' "delay": RAW}}}')
    for raw in EXTREMES:
        value = json.loads(raw)
        r = api.http.put("/_emulator/shopper", content=template.replace("RAW", raw),
                         headers={"Content-Type": "application/json"})
        in_range = (isinstance(value, (int, float)) and not isinstance(value, bool)
                    and 0 <= value <= MAX_DELAY)  # fmt: skip
        if in_range:
            assert r.status_code == 200, r.text
        else:
            assert_error(r, 400, 1001, "script")
            assert f"from 0 to {MAX_DELAY}" in r.json()["error"]["message"] or value is None
        _still_answers(api, shop)


def test_the_overflows_found_by_the_probe_are_refused_and_harmless(api: Api) -> None:
    shop = api.shopping()
    # A reply delay of 31,700 years on a frozen clock, then a customer message.
    assert_error(api.http.put("/_emulator/shopper", json={"reply_delay": 1e12}), 400, 1001,
                 "reply_delay")  # fmt: skip
    assert api.send(shop.token, shop.order_id, "hello").status_code == 200
    _still_answers(api, shop)
    # A clock at the end of year 9999, then slots.
    r = api.http.post("/_emulator/clock", json={"now": "9999-12-31T22:30:00Z"})
    assert_error(r, 400, 1001, "now")
    assert r.json()["error"]["message"] == (
        "must be from 1970-01-01T00:00:00Z to 2999-12-31T23:59:59Z")
    assert_error(api.http.post("/_emulator/clock", json={"advance_seconds": 1e12}), 400, 1001,
                 "advance_seconds")  # fmt: skip
    _still_answers(api, shop)


def test_the_largest_values_in_range_work_together(api: Api) -> None:
    """The latest clock, the longest delays: every derived moment can still be computed."""
    shop = api.shopping()
    script = {"reply_delay": MAX_DELAY, "greeting_delay": MAX_DELAY,
              "replacement": {"trigger": "keyword", "keywords": ["swap"], "delay": MAX_DELAY,
                              "body": "this one?", "image_url": "https://x.test/a.png"}}
    assert api.http.put("/_emulator/shopper", json={"script": script,
                                                    "reply_delay": MAX_DELAY}).status_code == 200
    latest = LATEST.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert api.http.post("/_emulator/clock", json={"now": latest}).json()["now"] == latest
    # Past the last moment: refused by name, and the clock stays where it was.
    assert_error(api.http.post("/_emulator/clock", json={"advance_seconds": 1}), 400, 1001,
                 "advance_seconds")  # fmt: skip
    user = api.user_token(shop.user_id)  # the old one expired a thousand years ago
    assert api.send(user, shop.order_id, "can you swap the milk?").status_code == 200
    conversation = api.messages(user, shop.order_id)["chat_messages"]
    assert [m["sender_type"] for m in conversation][-1] == "driver"  # answered, at the end
    _still_answers(api, shop)
    assert api.http.get("/_emulator/health").json()["now"] == latest
