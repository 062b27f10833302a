"""/openapi.json: generated, committed, the Connect routes and the control plane apart, and every
response of a full walk matches its schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from devserver_helpers import ADDRESS, ITEMS, Api, auth
from shopper_chat.devserver import create_app
from shopper_chat.devserver.openapi import openapi_document, ranges_table, render
from shopper_chat.devserver.urls import CONNECT, CONTROL

COMMITTED = Path(__file__).resolve().parents[2] / "openapi.json"


@pytest.fixture()
def document(api: Api) -> dict[str, Any]:
    r = api.http.get("/openapi.json")
    assert r.status_code == 200
    return dict(r.json())


def _check(document: dict[str, Any], method: str, template: str, response: httpx.Response) -> None:
    operation = document["paths"][template][method.lower()]
    status = str(response.status_code)
    assert status in operation["responses"], f"{method} {template} answered {status}"
    schema = operation["responses"][status]["content"]["application/json"]["schema"]
    full = {**schema, "components": document["components"]}
    jsonschema.Draft202012Validator(full).validate(response.json())


def test_the_committed_document_is_the_one_the_server_serves(api: Api) -> None:
    served = api.http.get("/openapi.json")
    assert served.headers["content-type"] == "application/json"
    expected = render(openapi_document())
    assert COMMITTED.read_text(encoding="utf-8") == expected, (
        "openapi.json is stale: run `python -m shopper_chat.devserver.openapi > openapi.json`"
    )
    assert served.text == expected


def test_the_readme_table_of_control_plane_ranges_is_current() -> None:
    readme = (COMMITTED.parent / "README.md").read_text(encoding="utf-8")
    start, end = "<!-- control-ranges: generated -->\n", "<!-- /control-ranges -->"
    table = readme.split(start, 1)[1].split(end, 1)[0]
    assert table == ranges_table(), (
        "the README's ranges are stale: paste `python -m shopper_chat.devserver.openapi "
        "--ranges` between its control-ranges markers")
    # Every number a control-plane body takes is in it.
    for op in CONTROL:
        for name, field in (op.body.model_fields.items() if op.body else ()):
            if field.annotation in (int, float) or "int" in str(field.annotation) or (
                    "float" in str(field.annotation)):  # fmt: skip
                assert f"| `{name}` |" in table, f"{op.path} {name} has no documented range"


def test_every_connect_route_is_documented_and_the_control_plane_apart(
    document: dict[str, Any],
) -> None:
    app = create_app()
    connect = {r.path for r in app.routes if r.path.startswith("/v2/")}  # type: ignore[attr-defined]
    control = {r.path for r in app.routes if r.path.startswith("/_emulator/")}  # type: ignore[attr-defined]
    app.state.backend.store.close()
    documented = set(document["paths"])
    assert documented == connect
    assert set(document["x-emulator"]["paths"]) == control
    for op in CONNECT:
        operation = document["paths"][op.path][op.method.lower()]
        listed = set(operation["responses"])
        assert {"200", "default", "429", "500", "503"} | {str(s) for s in op.errors} <= listed
        assert op.path == "/v2/oauth/token" or "401" in listed
    for op in CONTROL:
        operation = document["x-emulator"]["paths"][op.path][op.method.lower()]
        assert {"200", "default"} | {str(s) for s in op.errors} <= set(operation["responses"])
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_responses_match_the_document(api: Api, document: dict[str, Any]) -> None:
    http = api.http
    c = api.client_token()
    check = _check
    d = document

    r = http.post("/v2/oauth/token", json={})
    check(d, "POST", "/v2/oauth/token", r)
    r = http.post(
        "/v2/fulfillment/users", headers=auth(c), json={"user_id": "u", "first_name": "S"}
    )
    check(d, "POST", "/v2/fulfillment/users", r)
    r = http.post("/v2/fulfillment/users", json={})
    check(d, "POST", "/v2/fulfillment/users", r)
    cart = "/v2/fulfillment/users/{user_id}/service_options/cart/delivery"
    cart_body = {"address": ADDRESS, "items": ITEMS}
    r = http.post(cart.format(user_id="u"), headers=auth(c), json=cart_body)
    check(d, "POST", cart, r)
    option = r.json()["service_options"][0]["id"]
    r = http.post(cart.format(user_id="nobody"), headers=auth(c), json=cart_body)
    check(d, "POST", cart, r)
    preview = "/v2/fulfillment/service_options/delivery"
    check(d, "POST", preview, http.post(preview, headers=auth(c), json={"postal_code": "1"}))
    reserve = "/v2/fulfillment/users/{user_id}/service_options/{service_option_id}/reserve"
    r = http.post(reserve.format(user_id="u", service_option_id=option), headers=auth(c))
    check(d, "POST", reserve, r)
    hold = r.json()["service_option_hold"]["id"]
    create = "/v2/fulfillment/users/{user_id}/orders/delivery"
    body = {"order_id": "o", "service_option_hold_id": hold, "initial_tip_cents": 0,
            "address": ADDRESS, "items": ITEMS}  # fmt: skip
    check(d, "POST", create, http.post(create.format(user_id="u"), headers=auth(c), json=body))
    check(d, "POST", create, http.post(create.format(user_id="u"), headers=auth(c), json=body))
    get = "/v2/fulfillment/users/{user_id}/orders/{order_id}"
    check(d, "GET", get, http.get(get.format(user_id="u", order_id="o"), headers=auth(c)))
    check(d, "GET", get, http.get(get.format(user_id="u", order_id="x"), headers=auth(c)))
    t = api.user_token("u")
    shoppers = "/v2/fulfillment_sandbox/shoppers"
    r = http.post(shoppers, headers=auth(t))
    check(d, "POST", shoppers, r)
    shopper = r.json()["id"]
    check(d, "POST", shoppers, http.post(shoppers, headers=auth(t), json={"email": "x"}))
    batches = "/v2/fulfillment_sandbox/batches"
    r = http.post(batches, headers=auth(t), json={"shopper_id": shopper, "orders": [{"id": "o"}]})
    check(d, "POST", batches, r)
    batch = r.json()["id"]
    advance = "/v2/fulfillment_sandbox/batches/{batch_id}/advance"
    r = http.post(
        advance.format(batch_id=batch), headers=auth(t), json={"workflow_state": "picking"}
    )
    check(d, "POST", advance, r)
    check(d, "POST", advance, http.post(advance.format(batch_id=batch), headers=auth(t),
                                        json={"workflow_state": "picking"}))  # fmt: skip
    items = "/v2/fulfillment_sandbox/shoppers/{shopper_id}/orders/{order_id}/items"
    r = http.post(items.format(shopper_id=shopper, order_id="o"), headers=auth(t),
                  json={"item": {"upc": "1"}, "count": 1})  # fmt: skip
    check(d, "POST", items, r)
    item = items + "/{line_num}"
    r = http.put(item.format(shopper_id=shopper, order_id="o", line_num="1"), headers=auth(t),
                 json={"status": "found"})  # fmt: skip
    check(d, "PUT", item, r)
    status = "/v2/post_checkout/orders/{order_id}"
    check(d, "GET", status, http.get(status.format(order_id="o"), headers=auth(t)))
    check(d, "GET", status, http.get(status.format(order_id="o")))
    chat = "/v2/post_checkout/chat/{order_id}/messages"
    url = chat.format(order_id="o")
    check(d, "POST", chat, http.post(url, headers=auth(t), json={"body": "hi", "image_url": ""}))
    check(d, "POST", chat, http.post(url, headers=auth(t), json={"body": "x" * 1001}))
    check(d, "GET", chat, http.get(url, headers=auth(t)))
    check(d, "PUT", chat, http.put(url, headers=auth(t)))
    check(d, "PUT", chat, http.put(chat.format(order_id="zz"), headers=auth(t)))
    callbacks = "/v2/fulfillment_sandbox/orders/{order_id}/callbacks"
    r = http.post(callbacks.format(order_id="o"), headers=auth(t), json={"event_name": "canceled"})
    check(d, "POST", callbacks, r)
    check(d, "POST", chat, http.post(url, headers=auth(t), json={"body": "hi"}))
    http.post("/_emulator/faults", json={"path": "/v2/*", "status": 429, "retry_after": 1,
                                         "times": 1})  # fmt: skip
    check(d, "GET", chat, http.get(url, headers=auth(t)))


def test_control_plane_answers_match_their_schemas(api: Api, document: dict[str, Any]) -> None:
    shop = api.shopping()
    control = document["x-emulator"]

    def check(method: str, template: str, response: httpx.Response) -> None:
        operation = control["paths"][template][method.lower()]
        schema = operation["responses"][str(response.status_code)]["content"]
        full = {**schema["application/json"]["schema"], "x-emulator": control}
        jsonschema.Draft202012Validator(full).validate(response.json())

    http = api.http
    order = "/_emulator/orders/{order_id}"
    check("GET", "/_emulator/health", http.get("/_emulator/health"))
    check("GET", "/_emulator/clock", http.get("/_emulator/clock"))
    check("POST", "/_emulator/clock", http.post("/_emulator/clock", json={"advance_seconds": 1}))
    check("POST", "/_emulator/clock", http.post("/_emulator/clock", json={"real": False}))
    check("GET", order, http.get(f"/_emulator/orders/{shop.order_id}"))
    check("GET", order, http.get("/_emulator/orders/nope"))
    messages = order + "/shopper_messages"
    check("POST", messages, http.post(f"/_emulator/orders/{shop.order_id}/shopper_messages",
                                      json={"body": "Found it"}))  # fmt: skip
    check("POST", "/_emulator/faults", http.post("/_emulator/faults", json={"status": 503}))
    check("GET", "/_emulator/faults", http.get("/_emulator/faults"))
    check("DELETE", "/_emulator/faults", http.delete("/_emulator/faults"))
    check("GET", "/_emulator/shopper", http.get("/_emulator/shopper"))
    check("PUT", "/_emulator/shopper", http.put("/_emulator/shopper", json={"reply_delay": 1}))
    check("POST", "/_emulator/seed", http.post("/_emulator/seed", json={"seed": 3}))
    check("POST", "/_emulator/reset", http.post("/_emulator/reset", json={"colour": 1}))
    check("POST", "/_emulator/reset", http.post("/_emulator/reset"))
