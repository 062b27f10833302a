"""Tokens: both grants, the documented errors, expiry on the server's clock, user isolation."""

from __future__ import annotations

import base64

import pytest
from devserver_helpers import Api, assert_error, assertion_for, auth
from shopper_chat.devserver import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

CREDS = {"client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET}


def test_client_credentials_token_shape(api: Api) -> None:
    r = api.http.post("/v2/oauth/token", json={**CREDS, "grant_type": "client_credentials"})
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope", "created_at"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 86400
    assert body["scope"] == "connect:fulfillment"
    assert body["created_at"] == 1768496400  # 2026-01-15T17:00:00Z


def test_user_token_scope_and_unquoted_assertion(api: Api) -> None:
    assertion = base64.b64encode(b'{ "user_id": kamalsingh1234}').decode()
    r = api.http.post(
        "/v2/oauth/token",
        json={**CREDS, "grant_type": "fulfillment_user_assertion",
              "scope": "connect:post_checkout", "assertion": assertion},
    )  # fmt: skip
    assert r.status_code == 200 and r.json()["scope"] == "connect:post_checkout"


@pytest.mark.parametrize(
    ("body", "status", "code", "key"),
    [
        ({**CREDS, "client_secret": "wrong", "grant_type": "client_credentials"}, 401, None, None),
        ({**CREDS, "client_id": "nobody", "grant_type": "client_credentials"}, 401, None, None),
        ({**CREDS, "grant_type": "password"}, 400, 1001, "grant_type"),
        ({**CREDS, "grant_type": "client_credentials", "scope": "admin"}, 400, 1001, "scope"),
        ({**CREDS, "grant_type": "fulfillment_user_assertion"}, 400, 1001, "assertion"),
        ({**CREDS, "grant_type": "fulfillment_user_assertion", "assertion": "%%%"}, 400, 1001,
         "assertion"),
        ({**CREDS, "grant_type": "fulfillment_user_assertion",
          "assertion": base64.b64encode(b'{"user": 1}').decode()}, 400, 1001, "assertion"),
        ({"client_id": DEFAULT_CLIENT_ID, "grant_type": "client_credentials"}, 400, 1001,
         "client_secret"),
        ({**CREDS, "grant_type": 5}, 400, 1001, "grant_type"),
    ],
)  # fmt: skip
def test_token_errors(api: Api, body: dict[str, object], status: int, code: int | None,
                      key: str | None) -> None:  # fmt: skip
    assert_error(api.http.post("/v2/oauth/token", json=body), status, code, key)


def test_several_missing_fields_give_9999(api: Api) -> None:
    body = api.http.post("/v2/oauth/token", json={}).json()
    assert body["error"]["code"] == 9999 and body["meta"] == {}
    keys = [e["meta"]["key"] for e in body["error"]["errors"]]
    assert keys == ["client_id", "client_secret", "grant_type"]
    assert all(e["error"]["code"] == 1001 for e in body["error"]["errors"])


def test_credentials_in_the_query_are_refused(api: Api) -> None:
    r = api.http.post(
        "/v2/oauth/token", params=CREDS, json={**CREDS, "grant_type": "client_credentials"}
    )
    assert_error(r, 403, None)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "Missing access token"),
        ({"Authorization": "Bearer not-a-token"}, "Invalid access token"),
        ({"Authorization": "Basic abc"}, "Missing access token"),
    ],
)
def test_401s(api: Api, headers: dict[str, str], message: str) -> None:
    body = assert_error(api.http.get("/v2/post_checkout/orders/x", headers=headers), 401, None)
    assert body["error"]["message"] == message


def test_tokens_expire_after_a_day_of_the_server_clock(api: Api) -> None:
    token = api.client_token()
    api.http.post("/_emulator/clock", json={"advance_seconds": 86399})
    assert api.http.post("/v2/fulfillment_sandbox/shoppers", headers=auth(token)).status_code == 200
    api.http.post("/_emulator/clock", json={"advance_seconds": 1})
    r = api.http.post("/v2/fulfillment_sandbox/shoppers", headers=auth(token))
    assert assert_error(r, 401, None)["error"]["message"] == "Expired access token"


def test_a_user_token_reaches_only_its_users_orders(api: Api) -> None:
    shop = api.shopping("alice", "order-a")
    api.create_order("bob", "order-b")
    bob = api.user_token("bob")
    for method in ("GET", "POST", "PUT"):
        r = api.http.request(
            method, "/v2/post_checkout/chat/order-a/messages", headers=auth(bob),
            json={"body": "hi"} if method == "POST" else None,
        )  # fmt: skip
        assert_error(r, 404, 4000)
    assert_error(api.http.get("/v2/post_checkout/orders/order-a", headers=auth(bob)), 404, 4000)
    r = api.advance(bob, shop.batch_id, "checkout")
    assert_error(r, 404, 4000)
    r = api.http.post(
        "/v2/fulfillment_sandbox/batches",
        headers=auth(bob),
        json={"shopper_id": shop.shopper_id, "orders": [{"id": "order-a"}]},
    )
    assert_error(r, 400, 1001, "orders[1]")
    # The retailer's token reaches every order.
    client = api.client_token()
    assert api.http.get("/v2/post_checkout/orders/order-a", headers=auth(client)).status_code == 200


def test_user_token_cannot_use_fulfillment(api: Api) -> None:
    token = api.user_token("someone")
    r = api.http.post("/v2/fulfillment/users", headers=auth(token),
                      json={"user_id": "x", "first_name": "X"})  # fmt: skip
    assert_error(r, 403, None)


def test_user_token_of_an_unknown_user_on_mark_read(api: Api) -> None:
    api.shopping("alice", "order-a")
    token = api.user_token("ghost")
    r = api.http.put("/v2/post_checkout/chat/order-a/messages", headers=auth(token))
    assert_error(r, 400, 4001)
    assert assertion_for("ghost")
