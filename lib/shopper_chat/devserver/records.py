"""What the backend stores: one typed record per thing the emulated Connect server keeps.

These are the backend's own objects, not the wire format: `models.py` builds the contract's
response models from them. Times are aware UTC datetimes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from shopper_chat.contract import BatchType, BatchWorkflowState

from .store import Record

__all__ = [
    "ActionRecord",
    "BatchRecord",
    "CallbackRecord",
    "ConversationRecord",
    "Event",
    "HoldRecord",
    "MessageRecord",
    "OrderPointer",
    "OrderRecord",
    "ServiceOptionRecord",
    "ShopperRecord",
    "TokenRecord",
    "UserRecord",
    "Window",
]


class TokenRecord(Record):
    """An issued access token, stored under its hash (the token itself is never stored). Never
    changed once issued: frozen, so that every request's lookup is shared (see `Table`)."""

    model_config = ConfigDict(frozen=True)

    table = "token"
    token_hash: str
    caller: Literal["client", "user"]
    user_id: str | None
    scope: str
    created_at: int
    expires_at: int

    def key(self) -> str:
        return self.token_hash


class UserRecord(Record):
    """A retailer's customer (`POST /v2/fulfillment/users`)."""

    table = "user"
    user_id: str
    internal_id: int
    created_at: datetime
    first_name: str
    last_name: str | None = None
    phone_number: str | None = None
    locale: str | None = None

    def key(self) -> str:
        return self.user_id


class ServiceOptionRecord(Record):
    """A delivery slot offered to a user (`user_id` None: a preview, which cannot be reserved)."""

    table = "service_option"
    id: int
    reference: str
    start_at: datetime
    end_at: datetime
    user_id: str | None = None

    def key(self) -> str:
        return str(self.id)

    def parent(self) -> str:
        return self.user_id or ""


class HoldRecord(Record):
    """A reserved slot, for one user, until `expires_at`. A hold replaced by a newer one or used
    by an order is `released`, not deleted: its id stays taken."""

    table = "hold"
    id: int
    user_id: str
    expires_at: datetime
    option: ServiceOptionRecord
    released: bool = False

    def key(self) -> str:
        return str(self.id)

    def parent(self) -> str:
        return self.user_id


class Window(BaseModel):
    """A delivery window."""

    start_at: datetime
    end_at: datetime


class Event(BaseModel):
    """A Sandbox callback an order received."""

    event_name: str
    at: datetime


class OrderRecord(Record):
    """A delivery order, and what the emulator tracks about it."""

    table = "order"
    order_id: str
    internal_id: int
    user_id: str
    customer_internal_id: int
    fulfillment_type: str = "delivery"
    created_at: datetime
    window: Window
    address: dict[str, Any]
    items: list[dict[str, Any]]
    initial_tip_cents: int
    special_instructions: str | None = None
    leave_unattended: bool | None = None
    locale: str | None = None
    batch_id: int | None = None
    delivered_at: datetime | None = None
    canceled_at: datetime | None = None
    events: list[Event] = []
    greeted: bool = False
    replacement_sent: bool = False
    shopper_information_removal: bool = False

    def key(self) -> str:
        return self.order_id

    def parent(self) -> str:
        return self.user_id


class OrderPointer(Record):
    """Instacart's internal order id -> the retailer's (for `X-Treat-Ids-As-Internal`)."""

    table = "order_internal"
    internal_id: int
    order_id: str

    def key(self) -> str:
        return str(self.internal_id)


class ShopperRecord(Record):
    """A fictitious Sandbox shopper."""

    table = "shopper"
    id: int
    email: str | None = None
    phone_digits: str | None = None
    created_at: datetime

    def key(self) -> str:
        return str(self.id)


class BatchRecord(Record):
    """A Sandbox batch: a shopper, its orders, and where it is in its workflow."""

    table = "batch"
    id: int
    batch_type: BatchType
    shopper_id: int
    order_ids: list[str]
    workflow_state: BatchWorkflowState
    created_at: datetime

    def key(self) -> str:
        return str(self.id)


class MessageRecord(Record):
    """A chat message of an order (`order_id` is the order's internal id)."""

    table = "message"
    id: int
    order_id: int
    created_at: datetime
    sender_type: Literal["user", "driver"]
    sender_id: str
    recipient_type: Literal["user", "driver"]
    recipient_id: str
    read: bool = False
    read_at: datetime | None = None
    body: str = ""
    image: str = ""

    def key(self) -> str:
        return str(self.id)

    def parent(self) -> str:
        return str(self.order_id)

    def seq(self) -> float:
        return float(self.id)


class ActionRecord(Record):
    """A scripted-shopper action waiting for its time (`text`: a reply's template; `message`:
    the customer's text it answers).

    Scenario actions: a `step` performs row `row` of state `state` of `scenario` (`item` and
    `greeted`: what the customer's message said; `entered`: the row moved to a new state, whose
    timers start once it is done); a `timeout` is a timer that waits for the customer and so is
    never fast-forwarded. A timer whose `epoch` is not the conversation's any more is void.

    Never changed once scheduled, only run and deleted: frozen, so that the schedule that every
    request checks is parsed once per write (see `Table`).
    """

    model_config = ConfigDict(frozen=True)

    table = "action"
    id: int
    kind: Literal["greeting", "reply", "replacement", "step", "timeout"]
    order_id: str
    due: datetime
    text: str = ""
    message: str = ""
    scenario: str = ""
    state: str = ""
    row: int = -1
    epoch: int = 0
    item: str = ""
    greeted: bool = False
    entered: bool = False

    def key(self) -> str:
        return f"{self.id:012d}"

    def parent(self) -> str:
        return "pending"

    def seq(self) -> float:
        return self.due.timestamp()


class CallbackRecord(Record):
    """An event callback not yet delivered (the callback engine's `PendingDelivery`), kept so
    that it survives a restart. `queued` orders them: the time the engine first saved it."""

    table = "callback"
    event: dict[str, Any]
    attempts: int = 0
    queued: float = 0.0

    def key(self) -> str:
        return str(self.event["event_id"])

    def parent(self) -> str:
        return "pending"

    def seq(self) -> float:
        return self.queued


class ConversationRecord(Record):
    """Where an order's conversation is in its scenario: the scripted shopper's memory of it.

    `state` is "" until shopping starts; `epoch` counts the moves between states (a timer set in
    an earlier state is void); `turns` counts how often each row has spoken (a row's texts are
    used in turn); `last_said` is the shopper's last text (never sent twice in a row).
    """

    table = "conversation"
    order_id: str
    scenario: str
    state: str = ""
    epoch: int = 0
    entered_at: datetime | None = None
    turns: dict[str, int] = {}
    last_said: str = ""

    def key(self) -> str:
        return self.order_id
