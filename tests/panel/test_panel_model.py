"""The chat panel's model, without a browser, against the development server on loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import httpx
import pytest
from shopper_chat.client import (
    ChatMessage,
    ChatMetadata,
    Customer,
    MetadataChanged,
    NewMessage,
    ReadChanged,
    ShopperProfile,
    StateChanged,
)
from shopper_chat.errors import ServerError, WaitTimeout
from shopper_chat.panel import (
    ChatClosedError,
    ChatModel,
    EmptyMessageError,
    MessageTooLongError,
    ModelChange,
    SendInProgressError,
)
from shopper_chat.panel import model as model_module

CHAT_PATH = "/v2/post_checkout/chat/*"


@dataclass
class Order:
    order_id: str
    user_id: str
    batch_id: int


@pytest.fixture()
def client(devserver: str) -> Iterator[object]:
    from shopper_chat import Client
    from shopper_chat.devserver import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

    # No retries inside the client: the panel's own error handling is what is under test.
    with Client(devserver, client_id=DEFAULT_CLIENT_ID, client_secret=DEFAULT_CLIENT_SECRET,
                max_retries=0) as connect_client:
        yield connect_client


@pytest.fixture()
def order(client: object) -> Order:
    from shopper_chat import tutorial

    setup = tutorial.create_order(client)
    shopping = tutorial.start_shopping(client, setup.order_id, setup.user_id)
    client.set_user(setup.user_id)  # type: ignore[attr-defined]
    return Order(setup.order_id, setup.user_id, shopping.batch_id)


@pytest.fixture()
def model(client: object, order: Order) -> Iterator[ChatModel]:
    chat = ChatModel(client, order.order_id, interval=0.05)  # type: ignore[arg-type]
    yield chat
    chat.close()


def add_fault(base_url: str, **rule: object) -> None:
    httpx.post(f"{base_url}/_emulator/faults", json=rule, timeout=10).raise_for_status()


def server_messages(client: object, order_id: str) -> list[object]:
    return list(client.chat.messages(order_id).chat_messages)  # type: ignore[attr-defined]


def test_building_the_model_makes_no_request() -> None:
    from shopper_chat import Client

    # Nothing listens on the discard port: any request would fail.
    unreachable = Client("http://127.0.0.1:9", client_id="x", client_secret="y", max_retries=0)
    try:
        chat = ChatModel(unreachable, "order-1")
        assert chat.status.poll_state == "idle"
        assert chat.entries == []
        assert not chat.running
    finally:
        unreachable.close()


def test_greeting_arrives_with_metadata_and_unread(model: ChatModel) -> None:
    greeting = model.wait_for_messages(count=1, timeout=10)
    assert greeting[0].from_shopper
    assert "Zelma" in greeting[0].body
    model.wait_for_polls(1, timeout=10)
    status = model.status
    assert status.shopper_name == "Zelma"
    assert status.workflow_state == "picking"
    assert status.poll_state == "live"
    assert status.unread_count == len([e for e in model.entries if e.from_shopper]) >= 1


def test_send_shows_at_once_then_the_answer_arrives_each_id_once(
    model: ChatModel, client: object, order: Order
) -> None:
    model.wait_for_messages(count=1, timeout=10)
    sent = model.send("  Could you pick ripe bananas?  ")
    assert sent.body == "Could you pick ripe bananas?"
    assert sent.from_customer and not sent.confirmed
    assert sent.id in [e.id for e in model.entries]

    answer = model.wait_for_messages(count=1, timeout=10)
    assert all(e.from_shopper and e.id > sent.id for e in answer)
    model.wait_for_polls(2, timeout=10)
    ids = [e.id for e in model.entries]
    assert len(ids) == len(set(ids)), "a message was added twice"
    confirmed = next(e for e in model.entries if e.id == sent.id)
    assert confirmed.confirmed
    on_server = [m for m in server_messages(client, order.order_id) if m.sender_type == "user"]
    assert [m.body for m in on_server] == ["Could you pick ripe bananas?"]


@pytest.mark.parametrize("body", ["", "   ", "\n\t"])
def test_empty_messages_are_not_sent(model: ChatModel, client: object, order: Order,
                                     body: str) -> None:
    with pytest.raises(EmptyMessageError):
        model.send(body)
    with pytest.raises(MessageTooLongError):
        model.send("x" * 1001)
    with pytest.raises(ValueError, match="http"):
        model.send("look", image_url="ftp://example.com/a.png")
    assert not [m for m in server_messages(client, order.order_id) if m.sender_type == "user"]


def test_a_message_of_exactly_1000_characters_is_sent(model: ChatModel) -> None:
    assert model.send("y" * 1000).body == "y" * 1000


def test_no_mark_read_until_every_unread_message_was_seen(
    model: ChatModel, client: object, order: Order, devserver: str
) -> None:
    model.wait_for_messages(count=1, timeout=10)
    httpx.post(f"{devserver}/_emulator/orders/{order.order_id}/shopper_messages",
               json={"body": "Bananas are green today. OK?"}, timeout=10).raise_for_status()
    last = model.wait_for_messages(count=1, timeout=10)[-1]
    model.wait_for_polls(3, timeout=10)
    assert model.mark_read_calls == 0, "marked read without the user having seen anything"

    earlier = [e.id for e in model.entries if e.from_shopper and e.id != last.id]
    assert earlier
    model.report_seen(earlier)
    model.wait_for_polls(3, timeout=10)
    assert model.mark_read_calls == 0, "marked read while an unread message was unseen"
    assert not any(m.read for m in server_messages(client, order.order_id))

    model.report_seen([last.id])
    model.wait_for_status(lambda s: s.unread_count == 0, timeout=10)
    assert model.mark_read_calls == 1
    shopper = [m for m in server_messages(client, order.order_id) if m.sender_type == "driver"]
    assert all(m.read and m.read_at is not None for m in shopper)


def test_headless_mark_read(model: ChatModel, client: object, order: Order) -> None:
    model.wait_for_messages(count=1, timeout=10)
    model.wait_for_polls(1, timeout=10)
    unread = model.unread_count
    assert unread >= 1
    assert model.mark_read() == unread
    assert model.unread_count == 0
    assert all(m.read for m in server_messages(client, order.order_id))
    assert model.mark_read() == 0  # nothing unread: no second PUT
    assert model.mark_read_calls == 1


def test_polling_stops_when_the_order_reaches_checkout(
    model: ChatModel, client: object, order: Order
) -> None:
    model.wait_for_messages(count=1, timeout=10)
    client.sandbox.advance(order.batch_id, workflow_state="checkout")  # type: ignore[attr-defined]
    status = model.wait_for_status(lambda s: s.poll_state == "stopped", timeout=10)
    assert status.stop_reason == "state"
    assert "checkout" in status.detail
    assert status.chat_open, "sending is still allowed at checkout; only polling stops"
    with pytest.raises(WaitTimeout, match="stopped"):
        model.wait_for_messages(count=1, timeout=5)


def test_stop_states_are_configurable(client: object, order: Order) -> None:
    chat = ChatModel(client, order.order_id, interval=0.05,  # type: ignore[arg-type]
                     stop_states=("delivering",))
    try:
        chat.wait_for_messages(count=1, timeout=10)
        client.sandbox.advance(order.batch_id, workflow_state="checkout")  # type: ignore[attr-defined]
        chat.wait_for_status(lambda s: s.workflow_state == "checkout", timeout=10)
        chat.wait_for_polls(2, timeout=10)
        assert chat.status.poll_state == "live"
        client.sandbox.advance(order.batch_id, workflow_state="delivering")  # type: ignore[attr-defined]
        status = chat.wait_for_status(lambda s: s.poll_state == "stopped", timeout=10)
        assert status.stop_reason == "state" and "delivering" in status.detail
    finally:
        chat.close()


def test_close_stops_the_poll_thread(model: ChatModel) -> None:
    model.wait_for_messages(count=1, timeout=10)
    assert model.running
    model.close()
    assert not model.running
    assert model.status.poll_state == "stopped"
    assert model.status.stop_reason == "closed"
    model.start()  # a closed panel stays closed
    assert not model.running


def test_kernel_shutdown_stops_every_panel(model: ChatModel) -> None:
    model.wait_for_messages(count=1, timeout=10)
    model_module._stop_all_at_exit()  # what atexit runs when the kernel shuts down
    status = model.wait_for_status(lambda s: s.poll_state == "stopped", timeout=10)
    assert status.stop_reason == "shutdown"


@pytest.mark.parametrize(
    ("rule", "shown"),
    [({"status": 503}, "503"), ({"drop": True}, "")],
    ids=["server-error", "lost-connection"],
)
def test_errors_show_in_the_status_and_polling_recovers(
    model: ChatModel, devserver: str, order: Order, rule: dict[str, object], shown: str
) -> None:
    model.wait_for_messages(count=1, timeout=10)
    seen: list[str] = []
    model.subscribe(lambda change: seen.append(model.status.poll_state))
    add_fault(devserver, method="GET", path=CHAT_PATH, times=2, **rule)
    backing_off = model.wait_for_status(lambda s: s.poll_state == "backing_off", timeout=15)
    assert shown in backing_off.detail
    assert backing_off.detail, "the panel must say what failed"
    model.wait_for_status(lambda s: s.poll_state == "live", timeout=30)
    # Still working after recovery: a new shopper message arrives.
    httpx.post(f"{devserver}/_emulator/orders/{order.order_id}/shopper_messages",
               json={"body": "Back again!"}, timeout=10).raise_for_status()
    assert "Back again!" in [e.body for e in model.wait_for_messages(count=1, timeout=15)]
    assert "backing_off" in seen and seen[-1] == "live"


def test_a_failed_send_is_not_retried(model: ChatModel, client: object, order: Order,
                                      devserver: str) -> None:
    model.wait_for_messages(count=1, timeout=10)
    add_fault(devserver, method="POST", path=CHAT_PATH, status=500, times=1)
    with pytest.raises(ServerError):
        model.send("Are you there?")
    assert not [m for m in server_messages(client, order.order_id) if m.sender_type == "user"]
    model.send("Are you there?")  # the user's second press: sent once
    bodies = [m.body for m in server_messages(client, order.order_id) if m.sender_type == "user"]
    assert bodies == ["Are you there?"]


def test_a_second_send_while_one_is_on_its_way_is_refused(
    model: ChatModel, devserver: str
) -> None:
    model.wait_for_messages(count=1, timeout=10)
    add_fault(devserver, method="POST", path=CHAT_PATH, latency_ms=800, times=1)
    first = threading.Thread(target=model.send, args=("first",))
    first.start()
    try:
        while not model.sending and first.is_alive():
            threading.Event().wait(0.01)
        with pytest.raises(SendInProgressError):
            model.send("second")
    finally:
        first.join(timeout=10)


def test_an_unknown_order_says_so(client: object, order: Order) -> None:
    chat = ChatModel(client, "no-such-order", interval=0.05)  # type: ignore[arg-type]
    try:
        chat.start()
        status = chat.wait_for_status(lambda s: s.poll_state == "stopped", timeout=10)
        assert status.stop_reason == "not_found"
        assert "no-such-order" in status.detail and "not found" in status.detail
        assert not status.chat_open
        with pytest.raises(ChatClosedError):
            chat.send("hello?")
        with pytest.raises(WaitTimeout):
            chat.wait_for_messages(count=1, timeout=5)
    finally:
        chat.close()


def test_wait_for_messages_times_out(model: ChatModel) -> None:
    model.wait_for_messages(count=1, timeout=10)
    with pytest.raises(WaitTimeout):
        model.wait_for_messages(count=1, timeout=0.3)


def test_transcript_is_a_frame(model: ChatModel) -> None:
    model.wait_for_messages(count=1, timeout=10)
    model.send("Thanks!")
    model.wait_for_messages(count=1, timeout=10)
    frame = model.transcript()
    assert list(frame["sender_role"])[0] == "shopper"
    assert set(frame["sender_role"]) == {"shopper", "customer"}
    assert "Thanks!" in list(frame["body"])


# -- batches: many messages in one poll, read changes mixed in ---------------------------------
# A scripted poller (the model's `poller_factory` seam) and a stand-in client, so that exactly
# which events each poll returns is known; no server, and nothing timed.

T0 = datetime(2026, 1, 15, 17, tzinfo=timezone.utc)


def chat_message(message_id: int, sender: str = "driver", *, read: bool = False) -> ChatMessage:
    return ChatMessage(
        id=message_id, order_id=1, created_at=T0 + timedelta(seconds=message_id),
        recipient_id="", recipient_type="", sender_id="", sender_type=sender,  # type: ignore[arg-type]
        read=read, read_at=T0 + timedelta(hours=1) if read else None,
        body=f"message {message_id}", image="",
    )


class ScriptedPoller:
    """Returns one scripted list of events per `poll_once()`, then nothing."""

    def __init__(self, polls: list[list[object]]) -> None:
        self.polls = list(polls)
        self.error = None

    def poll_once(self) -> list[object]:
        return self.polls.pop(0) if self.polls else []

    def stop(self) -> None:
        pass


class StandInChat:
    def __init__(self) -> None:
        self.puts = 0

    def mark_read(self, order_id: str) -> int:
        self.puts += 1
        return 0


def run_polls(initial: list[ChatMessage], polls: list[list[object]]
              ) -> tuple[ChatModel, list[ModelChange], StandInChat]:
    """A model fed `initial` by its first poll (the metadata, then every message: its first load)
    and `polls` by the next ones, once all are applied."""
    chat = StandInChat()
    changes: list[ModelChange] = []
    metadata = ChatMetadata(customer=Customer(display_name="Ada"),
                            shoppers=(ShopperProfile(display_name="Zelma"),))
    first_load: list[object] = [MetadataChanged(metadata), *(NewMessage(m) for m in initial)]
    model = ChatModel(SimpleNamespace(chat=chat), "order-1", interval=0.01,  # type: ignore[arg-type]
                      poller_factory=lambda *args, **kwargs: ScriptedPoller([first_load, *polls]))
    model.subscribe(changes.append)
    model.start()
    # Poll k+1 starts only after poll k's events were applied.
    model.wait_for_polls(len(polls) + 2, timeout=10)
    model.stop()
    return model, changes, chat


def unread_by_scan(model: ChatModel) -> int:
    return sum(1 for e in model.entries if e.from_shopper and not e.read)


def test_many_messages_in_one_poll_are_one_change_in_order() -> None:
    greeting = chat_message(1)
    # One poll: 300 messages from both sides, some already read, not in id order.
    batch = [chat_message(i, "driver" if i % 3 else "user", read=i % 7 == 0)
             for i in range(2, 302)]
    shuffled = batch[1::2] + batch[::2]
    model, changes, _chat = run_polls(
        [greeting], [[StateChanged(None, "picking"), *(NewMessage(m) for m in shuffled)]]
    )
    assert [e.id for e in model.entries] == list(range(1, 302))
    added = [c for c in changes if c.kind == "added"]
    assert [[e.id for e in c.entries] for c in added] == [[1], list(range(2, 302))]
    expected = 1 + sum(1 for m in batch if m.sender_type == "driver" and not m.read)
    assert model.unread_count == unread_by_scan(model) == expected
    assert model.status.workflow_state == "picking"
    assert [e.body for e in model.entries][-1] == "message 301"


def test_read_changes_mixed_with_new_messages_keep_the_count() -> None:
    first = [chat_message(i, "driver" if i % 2 else "user") for i in range(1, 41)]
    read_now = [m.model_copy(update={"read": True, "read_at": T0})
                for m in first if m.from_shopper][:12]
    polls: list[list[object]] = [
        [NewMessage(m) for m in first],  # the first poll reports every message as new
        [NewMessage(chat_message(41)), *(ReadChanged(m) for m in read_now[:6]),
         NewMessage(chat_message(42, "user")), *(ReadChanged(m) for m in read_now[6:]),
         NewMessage(chat_message(43)), NewMessage(chat_message(44, read=True))],
        [],
        [NewMessage(chat_message(45))],
    ]
    model, changes, chat = run_polls(first, polls)
    assert [e.id for e in model.entries] == list(range(1, 46))
    read_ids = {m.id for m in read_now} | {44}
    assert {e.id for e in model.entries if e.read} == read_ids
    shopper_ids = {i for i in range(1, 46) if i % 2 or i in (41, 43, 44, 45)}
    assert model.unread_count == unread_by_scan(model) == len(shopper_ids - read_ids)
    # The first load, then one change per poll that found something: the first scripted poll's
    # repeats of known messages change nothing.
    added = [[e.id for e in c.entries] for c in changes if c.kind == "added"]
    assert added == [list(range(1, 41)), [41, 42, 43, 44], [45]]
    updated = [[e.id for e in c.entries] for c in changes if c.kind == "updated"]
    assert updated == [[m.id for m in read_now]]
    assert chat.puts == 0, "nothing was reported seen: no PUT"


def test_the_count_follows_a_mark_read_then_a_poll_that_predates_it() -> None:
    first = [chat_message(i) for i in range(1, 21)]
    model, _changes, chat = run_polls(first, [[NewMessage(m) for m in first]])
    assert model.unread_count == 20
    model.mark_read()
    assert chat.puts == 1 and model.unread_count == 0 == unread_by_scan(model)
    # A poll answered before the PUT still says unread: the local read state wins.
    model._apply_message_events([NewMessage(chat_message(21)),
                                 *(ReadChanged(m) for m in first[:5])])
    assert model.unread_count == 1 == unread_by_scan(model)
    assert [e.id for e in model.entries] == list(range(1, 22))
    assert model.wait_for_messages(count=21, timeout=5, sender="shopper")[-1].id == 21


def test_without_sender_types_the_panel_tells_the_sender_by_the_metadata_ids() -> None:
    def untyped(message_id: int, sender_id: str) -> ChatMessage:
        return chat_message(message_id, "").model_copy(update={"sender_id": sender_id})

    chat = StandInChat()
    metadata = ChatMetadata(customer=Customer(id="789012", display_name="Ada"),
                            shoppers=(ShopperProfile(id="23728249", display_name="Zelma"),))
    polls: list[list[object]] = [[MetadataChanged(metadata), NewMessage(untyped(1, "23728249")),
                                  NewMessage(untyped(2, "789012")), NewMessage(untyped(3, ""))]]
    model = ChatModel(SimpleNamespace(chat=chat), "order-1", interval=0.01,  # type: ignore[arg-type]
                      poller_factory=lambda *args, **kwargs: ScriptedPoller(polls))
    model.start()
    model.wait_for_polls(2, timeout=10)
    model.stop()
    assert [(e.role, e.sender_name) for e in model.entries] == [
        ("shopper", "Zelma"), ("customer", "Ada"), ("unknown", "Unknown sender")]
    assert model.unread_count == 1  # only the shopper's message waits to be read
