"""The whole chat tutorial through the client, against the development server on loopback."""

from __future__ import annotations

import httpx
import pytest
from client_support import Shopped
from shopper_chat import (
    Batch,
    ChatPoller,
    Client,
    Conversation,
    NewMessage,
    ReadChanged,
    StateChanged,
    Stopped,
    connect,
    tutorial,
)


def test_the_tutorial_in_a_dozen_lines(client: Client) -> None:
    # Before you begin: a customer and a delivery order (the "Implement delivery" steps).
    setup = tutorial.create_order(client, user_id="sierra-1", order_id="order-1001")
    assert (setup.user_id, setup.order_id, setup.status) == ("sierra-1", "order-1001", "brand_new")
    # Simulate shopping: a shopper, a batch, advance to picking.
    shopper = client.sandbox.create_shopper(email="zelma@example.com", phone="4155550100",
                                            password="shopper-password")
    batch = client.sandbox.create_batch(shopper.id, [(setup.order_id, setup.user_id)])
    assert isinstance(batch, Batch) and batch.workflow_state in (None, "acknowledged")
    assert client.sandbox.advance(batch.id, "picking").workflow_state == "picking"
    # Retrieve messages, as the customer.
    client.set_user(setup.user_id)
    greeting = client.chat.wait_for_messages(setup.order_id, timeout=10, interval=0.05)
    assert greeting[0].from_shopper and not greeting[0].read
    assert greeting[0].body == ("Hi, this is Zelma, your shopper. I'm just getting started on "
                                "your shopping list.")
    conversation = client.chat.messages(setup.order_id)
    assert isinstance(conversation, Conversation) and not conversation.is_expired
    assert conversation.customer_name == "Sierra" and conversation.shopper_name == "Zelma"
    # Send a message to the shopper.
    sent = client.chat.send(setup.order_id, "Hi, this is Sierra.")
    assert sent.type == "CHAT" and sent.id > greeting[0].id and sent.timezone
    answer = client.chat.wait_for_messages(setup.order_id, timeout=10, interval=0.05)
    assert answer[0].from_shopper and answer[0].id > sent.id
    # Mark messages as read.
    unread = [m for m in client.chat.messages(setup.order_id).chat_messages
              if m.from_shopper and not m.read]
    assert client.chat.mark_read(setup.order_id) == len(unread) >= 2
    after = client.chat.messages(setup.order_id).chat_messages
    assert all(m.read and m.read_at is not None for m in after if m.from_shopper)
    assert [m.body for m in after if m.from_customer] == ["Hi, this is Sierra."]
    assert client.chat.mark_read(setup.order_id) == 0


def test_order_status_follows_the_batch_and_the_poller_stops_at_checkout(
    client: Client, shopped: Shopped
) -> None:
    assert client.orders.get(shopped.order_id).workflow_state == "picking"
    poller = ChatPoller(client, shopped.order_id, interval=0.01)
    first = poller.poll_once()
    assert StateChanged(None, "picking") in first
    assert any(isinstance(e, NewMessage) and e.message.from_shopper for e in first)
    client.sandbox.advance(shopped.batch_id, "verifying_replacements")
    client.chat.mark_read(shopped.order_id)
    client.sandbox.advance(shopped.batch_id, "checkout")
    events = list(poller)
    kinds = [e.kind for e in events]
    assert kinds[-1] == "stopped"
    assert StateChanged("picking", "checkout") in events
    assert all(isinstance(e, ReadChanged) for e in events if e.kind == "read")
    assert events[-1] == Stopped("state", "checkout")
    assert poller.state == "stopped" and poller.poll_once() == []
    ids = [m.id for m in poller.messages]
    assert ids == sorted(set(ids))


def test_the_fulfillment_order_and_slots(client: Client) -> None:
    address = dict(tutorial.DEFAULT_ADDRESS)
    client.fulfillment.create_user("kamal-1", "Kamal", last_name="Singh", locale="en-US")
    options = client.fulfillment.delivery_options("kamal-1", address, tutorial.DEFAULT_ITEMS)
    assert options and all(o.id > 0 for o in options)
    hold = client.fulfillment.reserve("kamal-1", options[0].id)
    assert hold.id > 0
    order = client.fulfillment.create_delivery_order(
        "kamal-1", "order-k1", hold.id, address, tutorial.DEFAULT_ITEMS, initial_tip_cents=500,
        special_instructions="Ring twice", leave_unattended=True)
    assert order.id == "order-k1" and order.status == "brand_new"
    again = client.fulfillment.get_order("kamal-1", "order-k1")
    assert again.id == "order-k1" and len(again.items) == len(tutorial.DEFAULT_ITEMS)


def test_item_updates_and_callbacks(client: Client, shopped: Shopped) -> None:
    client.sandbox.update_item(shopped.shopper_id, shopped.order_id, "1", "found",
                               delivered_count=6)
    client.sandbox.update_item(shopped.shopper_id, shopped.order_id, "2", "replaced",
                               replacement_item={"upc": "070038000570"})
    client.sandbox.add_item(shopped.shopper_id, shopped.order_id, {"upc": "041220576470"},
                            count=1)
    client.sandbox.callback(shopped.order_id, "late_delivery")
    client.sandbox.callback(shopped.order_id, "canceled")
    assert client.orders.get(shopped.order_id).workflow_state == "canceled"


def test_internal_ids_header_reads_the_same_conversation(client: Client, shopped: Shopped) -> None:
    conversation = client.chat.messages(shopped.order_id)
    internal = conversation.chat_messages[0].order_id
    same = client.chat.messages(internal, internal_ids=True)
    assert [m.id for m in same.chat_messages] == [m.id for m in conversation.chat_messages]


def test_connect_starts_an_embedded_server_and_close_stops_it() -> None:
    with connect(seed=3, clock="2026-01-15T17:00:00Z", max_retries=0) as client:
        assert client.is_embedded
        base_url = client.base_url
        assert httpx.get(f"{base_url}/_emulator/health", timeout=5).json()["status"] == "ok"
        setup = tutorial.create_order(client)
        assert setup.status == "brand_new"
    assert client.closed
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{base_url}/_emulator/health", timeout=2)


def test_connect_uses_the_configured_base_url(devserver: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from shopper_chat.devserver import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

    monkeypatch.setenv("CONNECT_BASE_URL", devserver)
    monkeypatch.setenv("CONNECT_CLIENT_ID", DEFAULT_CLIENT_ID)
    monkeypatch.setenv("CONNECT_CLIENT_SECRET", DEFAULT_CLIENT_SECRET)
    with connect() as client:
        assert not client.is_embedded and client.base_url == devserver
        assert client.sandbox.create_shopper().id > 0
    assert httpx.get(f"{devserver}/_emulator/health", timeout=5).status_code == 200
