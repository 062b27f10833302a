"""The chat store under any sequence of sends, shopper posts, reads, read marks and advances.

Invariants checked after every step:
- message ids are strictly increasing in every read, and a message new to a read has a larger id
  than every message of the read before;
- no message is ever lost or changed (sender, body, image, created_at);
- the customer's own PUT never marks a customer message read, and marks every unread shopper
  message read; the read counts it answers add up to the shopper messages that are read;
- a send is accepted exactly while the chat is open, and a refused one stores nothing.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from properties_support import new_backend, order_in_picking
from shopper_chat.devserver import workflow
from shopper_chat.devserver.exceptions import ChatNotAllowed, InvalidParameter
from shopper_chat.devserver.models import ConnectBackend

TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40
).filter(lambda t: t.strip() != "")
# Texts the default script answers ("bananas"), so that the scripted shopper joins in.
BODIES = st.one_of(TEXT, st.sampled_from(["hello", "Could you pick ripe bananas, please?",
                                          "no bananas", "thanks!"]))
IMAGES = st.sampled_from(["", "https://example.com/a.jpg", "http://127.0.0.1/b.png"])


class ChatStore(RuleBasedStateMachine):
    """One order's chat, driven through the backend; a model of what must be there."""

    def __init__(self) -> None:
        super().__init__()
        self.backend: ConnectBackend = new_backend(seed=11, shopper=True)
        self.order = order_in_picking(self.backend)
        self.other = order_in_picking(self.backend, user_id="customer-2", order_id="order-2")
        self.known: dict[int, dict[str, Any]] = {}
        self.last_max = 0
        self.read_total = 0
        self.state = "picking"

    # -- helpers -----------------------------------------------------------------------------
    def read(self, caller: Any = None) -> list[dict[str, Any]]:
        answer = self.backend.list_messages(caller or self.order.customer, self.order.order_id,
                                            False)
        assert answer.metadata.is_expired is False
        messages = [m.model_dump(mode="json") for m in answer.chat_messages]
        ids = [m["id"] for m in messages]
        assert ids == sorted(set(ids)), "ids are not strictly increasing"
        for message in messages:
            seen = self.known.get(message["id"])
            if seen is None:
                assert message["id"] > self.last_max, "a new message with an old id"
                self.known[message["id"]] = dict(message)
            else:
                for key in ("sender_type", "sender_id", "recipient_type", "body", "image",
                            "created_at", "order_id"):
                    assert message[key] == seen[key], key
                if seen["read"]:
                    assert message["read"], "a message became unread"
                    assert message["read_at"] == seen["read_at"]
                self.known[message["id"]] = dict(message)
        assert set(self.known) == set(ids), "a message was lost"
        self.last_max = max(ids, default=self.last_max)
        return messages

    def open(self) -> bool:
        return workflow.WorkflowState(self.state) in workflow.CHAT_OPEN_STATES

    # -- rules -------------------------------------------------------------------------------
    @initialize()
    def first_read(self) -> None:
        self.backend.run_due_actions()  # the greeting
        assert any(m["sender_type"] == "driver" for m in self.read())

    @rule(body=BODIES, image=IMAGES)
    def customer_sends(self, body: str, image: str) -> None:
        before = len(self.read())
        try:
            sent = self.backend.create_message(self.order.customer, self.order.order_id, False,
                                               body, image)
        except ChatNotAllowed:
            assert not self.open()
            assert len(self.read()) == before
            return
        assert self.open()
        assert sent.id > self.last_max and sent.type == "CHAT"
        stored = {m["id"]: m for m in self.read()}[sent.id]
        assert (stored["sender_type"], stored["body"], stored["image"], stored["read"]) == (
            "user", body, image, False)

    @rule(body=BODIES, image=IMAGES)
    def shopper_posts(self, body: str, image: str) -> None:
        try:
            posted = self.backend.post_shopper_message(self.order.order_id, body, image)
        except ChatNotAllowed:
            assert not self.open()
            return
        assert self.open()
        assert posted.sender_type == "driver" and posted.read is False
        assert posted.id > self.last_max
        self.read()

    @rule()
    def customer_marks_read(self) -> None:
        before = {m["id"]: m for m in self.read()}
        unread = [i for i, m in before.items() if m["sender_type"] == "driver" and not m["read"]]
        count = self.backend.mark_messages_read(self.order.customer, self.order.order_id,
                                                False).messages_read_count
        assert count == len(unread)
        self.read_total += count
        after = {m["id"]: m for m in self.read()}
        for message_id, message in after.items():
            if message["sender_type"] == "driver":
                assert message["read"] and message["read_at"] is not None
            else:  # the customer's own PUT never touches the customer's messages
                assert (message["read"], message["read_at"]) == (
                    before[message_id]["read"], before[message_id]["read_at"])

    @rule()
    def scripted_shopper_acts(self) -> None:
        self.backend.run_due_actions()
        self.read()

    @rule(seconds=st.integers(min_value=0, max_value=600))
    def time_passes(self, seconds: int) -> None:
        self.backend.clock.advance(seconds)
        self.read()

    @precondition(lambda self: self.state != "completed")
    @rule(state=st.sampled_from([None, "verifying_replacements", "checkout", "delivering",
                                  "completed", "picking"]))
    def batch_advances(self, state: str | None) -> None:
        try:
            answer = self.backend.advance_batch(self.order.retailer, self.order.batch_id, state)
        except InvalidParameter:
            return
        self.state = str(answer.workflow_state)

    @rule(body=BODIES)
    def another_customer_chats_elsewhere(self, body: str) -> None:
        self.backend.create_message(self.other.customer, self.other.order_id, False, body, "")
        self.backend.post_shopper_message(self.other.order_id, body, "")
        self.backend.mark_messages_read(self.other.customer, self.other.order_id, False)

    # -- invariants --------------------------------------------------------------------------
    @invariant()
    def read_counts_add_up(self) -> None:
        messages = self.read()
        read_shopper = sum(1 for m in messages if m["sender_type"] == "driver" and m["read"])
        assert read_shopper == self.read_total

    @invariant()
    def the_retailer_sees_the_same_conversation(self) -> None:
        assert self.read(self.order.retailer) == self.read()

    @invariant()
    def timestamps_follow_ids(self) -> None:
        times = [m["created_at"] for m in self.read()]
        assert times == sorted(times)


ChatStore.TestCase.settings = settings(
    max_examples=25, stateful_step_count=30, derandomize=True, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestChatStore = ChatStore.TestCase
