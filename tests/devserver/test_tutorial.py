"""The tutorial, request for request, as plain HTTP: field names and shapes as it shows them."""

from __future__ import annotations

import json
import re

from devserver_helpers import Api

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
GREETING = "Hi, this is Zelma, your shopper. I'm just getting started on your shopping list."


def test_the_tutorial_walks_through(api: Api) -> None:
    api.create_order("sierra-1", "order-1001", first_name="Sierra")
    token = api.user_token("sierra-1")
    http = api.http

    # Create a shopper: the tutorial's curl sends no Content-Type.
    r = http.post(
        "/v2/fulfillment_sandbox/shoppers",
        headers={"Accept": "application/json", "Authorization": f"Bearer {token}"},
        content=json.dumps(
            {"email": "zelma@example.com", "phone": "4155550100", "password": "s3cret-pass"}
        ),
    )
    assert r.status_code == 200
    assert set(r.json()) == {"id"} and isinstance(r.json()["id"], int)
    shopper_id = r.json()["id"]

    # Generate a batch.
    r = http.post(
        "/v2/fulfillment_sandbox/batches",
        headers={
            "Accept": "application/json",
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
        },
        json={
            "batch_type": "delivery",
            "shopper_id": shopper_id,
            "orders": [{"id": "order-1001", "user_id": "sierra-1"}],
        },
    )
    assert r.status_code == 200
    batch_id = r.json()["id"]
    assert isinstance(batch_id, int)
    assert r.json()["workflow_state"] == "acknowledged"

    # Advance the batch to picking.
    r = http.post(
        f"/v2/fulfillment_sandbox/batches/{batch_id}/advance",
        headers={"Accept": "application/json", "Authorization": f"Bearer {token}",
                 "Content-Type": "application/json"},
        json={"workflow_state": "picking"},
    )  # fmt: skip
    assert r.json() == {"id": batch_id, "workflow_state": "picking"}

    # Retrieve messages: the shopper's greeting, unread.
    r = http.get(
        "/v2/post_checkout/chat/order-1001/messages",
        headers={"Accept": "application/json", "Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200
    data = r.json()
    assert set(data) == {"chat_messages", "metadata"}
    first = data["chat_messages"][0]
    assert set(first) == {
        "id", "order_id", "created_at", "recipient_id", "recipient_type", "sender_id",
        "sender_type", "read", "read_at", "body", "image",
    }  # fmt: skip
    assert first["body"] == GREETING
    assert first["sender_type"] == "driver" and first["sender_id"] == str(shopper_id)
    assert first["recipient_type"] == "user"
    assert first["read"] is False and first["read_at"] is None
    assert first["image"] == ""
    assert isinstance(first["id"], int) and isinstance(first["order_id"], int)
    assert ISO_Z.match(first["created_at"])
    meta = data["metadata"]
    assert meta["customer"]["display_name"] == "Sierra"
    assert isinstance(meta["customer"]["id"], int)
    assert first["recipient_id"] == str(meta["customer"]["id"])
    assert meta["shoppers"] == [
        {"id": shopper_id, "display_name": "Zelma", "avatar_url": "http://example.com"}
    ]
    assert meta["is_expired"] is False

    # Send a message to the shopper, exactly as the tutorial does.
    r = http.post(
        "/v2/post_checkout/chat/order-1001/messages",
        headers={"Accept": "application/json", "Authorization": f"Bearer {token}",
                 "Content-Type": "application/json"},
        json={"body": "Hi, this is Sierra.", "image_url": ""},
    )  # fmt: skip
    assert r.status_code == 200
    sent = r.json()
    assert set(sent) == {"id", "type", "created_at", "timezone"}
    assert sent["type"] == "CHAT" and sent["timezone"] == "America/Los_Angeles"
    assert ISO_Z.match(sent["created_at"])
    assert sent["id"] > first["id"]

    conversation = api.messages(token, "order-1001")["chat_messages"]
    mine = next(m for m in conversation if m["id"] == sent["id"])
    assert mine["sender_type"] == "user" and mine["body"] == "Hi, this is Sierra."
    assert mine["image"] == ""
    assert [m["id"] for m in conversation] == sorted(m["id"] for m in conversation)
    unread = [m for m in conversation if m["sender_type"] == "driver" and not m["read"]]

    # Mark messages as read: no body, the tutorial's headers.
    r = http.put(
        "/v2/post_checkout/chat/order-1001/messages",
        headers={"Accept": "application/json", "Authorization": f"Bearer {token}",
                 "Content-Type": "application/json"},
    )  # fmt: skip
    assert r.status_code == 200
    assert r.json() == {"messages_read_count": len(unread)}
    after = api.messages(token, "order-1001")["chat_messages"]
    for message in after:
        if message["sender_type"] == "driver":
            assert message["read"] is True and ISO_Z.match(message["read_at"])


def test_prerequisite_fulfillment_shapes(api: Api) -> None:
    token = api.client_token()
    h = {"Authorization": f"Bearer {token}"}
    r = api.http.post(
        "/v2/fulfillment/users",
        json={"user_id": "u-9", "first_name": "Sierra", "last_name": "Lopez",
              "phone_number": "4155550111", "locale": "en-US"},
        headers=h,
    )  # fmt: skip
    assert r.json() == {"user_id": "u-9", "first_name": "Sierra", "last_name": "Lopez",
                        "phone_number": "4155550111", "locale": "en-US"}  # fmt: skip
    r = api.http.post(
        "/v2/fulfillment/users/u-9/service_options/cart/delivery",
        json={"address": {"address_line_1": "1 Main", "postal_code": "94105"},
              "items": [{"line_num": "1", "count": 1, "item": {"rrc": "1234"}}]},
        headers=h,
    )  # fmt: skip
    options = r.json()["service_options"]
    assert options and {"id", "service_option_reference", "date", "window"} <= set(options[0])
    assert {"start_at", "end_at", "type"} <= set(options[0]["window"])
    r = api.http.post(
        f"/v2/fulfillment/users/u-9/service_options/{options[1]['id']}/reserve", headers=h
    )
    hold = r.json()["service_option_hold"]
    assert hold["expires_at"] == "2026-01-15T17:10:00Z"
    assert hold["service_option"]["id"] == options[1]["id"]
    r = api.http.post(
        "/v2/fulfillment/users/u-9/orders/delivery",
        json={"order_id": "o-9", "service_option_hold_id": hold["id"], "initial_tip_cents": 0,
              "address": {"address_line_1": "1 Main", "postal_code": "94105"},
              "items": [{"line_num": "1", "weight": 1.5, "item": {"upc": "0001"}}],
              "special_instructions": "ring twice", "leave_unattended": True},
        headers=h,
    )  # fmt: skip
    order = r.json()
    assert order["id"] == "o-9" and order["status"] == "brand_new"
    assert order["created_at"] == "2026-01-15T17:00:00Z"
    r = api.http.get("/v2/fulfillment/users/u-9/orders/o-9", headers=h)
    assert r.json() == order
    r = api.http.post(
        "/v2/fulfillment/service_options/delivery", json={"postal_code": "94105"}, headers=h
    )
    assert r.status_code == 200 and r.json()["service_options"]
