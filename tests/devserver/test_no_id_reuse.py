"""Reseeding never gives out an id that is taken, and no new record replaces another."""

from __future__ import annotations

import httpx
import pytest
from devserver_helpers import ADDRESS, ITEMS, Api, assert_error, auth
from shopper_chat.devserver import start
from shopper_chat.devserver.records import MessageRecord
from shopper_chat.devserver.store import DuplicateRecord, MissingRecord, Store


def _customer_ids(api: Api, token: str, order_id: str) -> list[int]:
    return [m["id"] for m in api.messages(token, order_id)["chat_messages"]
            if m["sender_type"] == "user"]  # fmt: skip


def test_reseeding_keeps_every_message_and_every_id_unique(api: Api) -> None:
    # The session server runs on seed 7: after reseeding to 7, the second order is created by
    # exactly the same sequence of draws as the first, so every one of its ids is a collision
    # the server must skip.
    first = api.shopping("user-1", "o1")
    for i in range(300):
        assert api.send(first.token, "o1", f"o1 message {i}").status_code == 200
    before = api.messages(first.token, "o1")["chat_messages"]
    assert api.http.post("/_emulator/seed", json={"seed": 7}).status_code == 200

    second = api.shopping("user-2", "o2")
    for i in range(20):
        assert api.send(second.token, "o2", f"o2 message {i}").status_code == 200

    o1 = api.messages(first.token, "o1")["chat_messages"]
    o2 = api.messages(second.token, "o2")["chat_messages"]
    assert [m["body"] for m in o1 if m["sender_type"] == "user"] == [
        f"o1 message {i}" for i in range(300)]
    assert o1 == before  # nothing moved, nothing changed
    assert [m["body"] for m in o2 if m["sender_type"] == "user"] == [
        f"o2 message {i}" for i in range(20)]
    ids = [m["id"] for m in o1 + o2]
    assert len(ids) == len(set(ids))
    assert min(m["id"] for m in o2) > max(m["id"] for m in o1)

    # The API lists a conversation oldest first: o1's next message comes last, not in the middle.
    sent = api.send(first.token, "o1", "o1 after the reseed").json()
    ordered = _customer_ids(api, first.token, "o1")
    assert ordered[-1] == sent["id"] and ordered == sorted(ordered) and len(ordered) == 301

    # The other kinds were drawn again from seed 7 and skipped: two of everything.
    assert second.shopper_id != first.shopper_id and second.batch_id != first.batch_id
    debug = [api.http.get(f"/_emulator/orders/{o}").json() for o in ("o1", "o2")]
    assert debug[0]["internal_id"] != debug[1]["internal_id"]
    assert debug[0]["customer_internal_id"] != debug[1]["customer_internal_id"]


def test_a_new_record_never_replaces_a_stored_one() -> None:
    store = Store()
    store.insert("note", "101", "{}", "a", 101)
    with pytest.raises(DuplicateRecord, match="note 101 exists already"):
        store.insert("note", "101", '{"other": true}', "b", 101)
    assert store.get("note", "101") == "{}"
    with pytest.raises(MissingRecord):
        store.update("note", "102", "{}", "a", 102)
    # The same through a typed table: a message whose id is taken is refused, not moved.
    messages = store.table(MessageRecord)
    fields = {"created_at": "2026-01-15T17:00:00Z", "sender_type": "user", "sender_id": "1",
              "recipient_type": "driver", "recipient_id": "2"}
    messages.insert(MessageRecord.model_validate({"id": 500, "order_id": 1, **fields}))
    with pytest.raises(DuplicateRecord):
        messages.insert(MessageRecord.model_validate({"id": 500, "order_id": 2, **fields}))
    assert [m.order_id for m in messages.children("1")] == [1] and not messages.children("2")
    store.close()


def test_a_replaced_or_used_hold_keeps_its_id_taken() -> None:
    """A hold replaced by a new reservation, or used by an order, is released, not deleted: the
    id sequence drawn again (as after a reseed) skips it."""
    with start(seed=7, clock="2026-01-15T17:00:00Z") as server, \
            httpx.Client(base_url=server.base_url) as http:
        api = Api(http)
        h = auth(api.client_token())
        http.post("/v2/fulfillment/users", json={"user_id": "u1", "first_name": "A"},
                  headers=h).raise_for_status()  # fmt: skip
        options = http.post("/v2/fulfillment/users/u1/service_options/cart/delivery",
                            json={"address": ADDRESS, "items": ITEMS}, headers=h).json()
        option_id = options["service_options"][0]["id"]
        reserve = f"/v2/fulfillment/users/u1/service_options/{option_id}/reserve"

        def hold() -> int:
            return int(http.post(reserve, headers=h).json()["service_option_hold"]["id"])

        before = server.backend.ids.snapshot()
        first = hold()
        server.backend.ids.restore(before)  # the same draw again
        second = hold()  # replaces the first, whose id stays taken
        assert second != first
        r = http.post("/v2/fulfillment/users/u1/orders/delivery", headers=h, json={
            "order_id": "o1", "service_option_hold_id": first, "initial_tip_cents": 0,
            "address": ADDRESS, "items": ITEMS})  # fmt: skip
        assert_error(r, 400, 1001, "service_option_hold_id")  # released: no hold any more
        http.post("/v2/fulfillment/users/u1/orders/delivery", headers=h, json={
            "order_id": "o1", "service_option_hold_id": second, "initial_tip_cents": 0,
            "address": ADDRESS, "items": ITEMS}).raise_for_status()  # fmt: skip
        server.backend.ids.restore(before)
        assert hold() not in (first, second)  # the used one stays taken too
