"""Connect's event callbacks (Instacart calls the retailer), typed: the envelope and the names.

Every event is one JSON object:

```json
{"event_id": 1201895966044343904, "event_name": "fulfillment.picking",
 "event_timestamp": "2026-01-15T17:00:00Z", "event_metadata": {"order_id": "order-1"}}
```

- `chat_message_created` (post-checkout): `event_metadata` is `{"topic_id": "<string>"}`. Which id
  the topic is, the docs do not say; the development server sends the order's internal id (what
  `X-Treat-Ids-As-Internal: true` takes), a guess the README documents.
- `fulfillment.<status>` (fulfillment): `event_metadata` has `order_id`, the retailer's order id.

A real server may add metadata fields (`order_url`, `store_location`, ...) and may send event names
this list does not know; the models keep the first (`model_extra`) and `parse_event` reads the
second as a plain `Event`, so that a receiver never refuses what Instacart sends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

from pydantic import Field, StrictInt

from shopper_chat.contract._bodies import Response
from shopper_chat.contract._rules import Timestamp

__all__ = [
    "BATCH_STATE_EVENTS",
    "CHAT_MESSAGE_CREATED",
    "ChatMessageCreated",
    "ChatMessageCreatedMetadata",
    "EVENT_NAMES",
    "Event",
    "EventName",
    "FULFILLMENT_EVENT_NAMES",
    "FulfillmentEvent",
    "FulfillmentEventMetadata",
    "FulfillmentEventName",
    "fulfillment_event_name",
    "parse_event",
]

CHAT_MESSAGE_CREATED: Literal["chat_message_created"] = "chat_message_created"
"""The post-checkout event sent when a chat message is created (the customer's or the shopper's)."""

FulfillmentEventName = Literal[
    "fulfillment.brand_new",
    "fulfillment.acknowledged",
    "fulfillment.picking",
    "fulfillment.checkout",
    "fulfillment.delivering",
    "fulfillment.staged",
    "fulfillment.delivered",
    "fulfillment.canceled",
    "fulfillment.rescheduled",
    "fulfillment.late_delivery",
    "fulfillment.item_replaced",
    "fulfillment.item_refunded",
]
"""The fulfillment events the development server can cause, named after the docs' list in snake
case (`Order item replacement` → `fulfillment.item_replaced`: the item names are a guess)."""

EventName = Literal[Literal["chat_message_created"], FulfillmentEventName]
"""Every event name the development server can send."""

FULFILLMENT_EVENT_NAMES: tuple[str, ...] = get_args(FulfillmentEventName)
EVENT_NAMES: tuple[str, ...] = (CHAT_MESSAGE_CREATED, *FULFILLMENT_EVENT_NAMES)
"""Every event name the development server can send, in the order an order lives them."""

BATCH_STATE_EVENTS: Mapping[str, str] = {
    "brand_new": "fulfillment.brand_new",
    "acknowledged": "fulfillment.acknowledged",
    "picking": "fulfillment.picking",
    "checkout": "fulfillment.checkout",
    "delivering": "fulfillment.delivering",
    "staged": "fulfillment.staged",
    "completed": "fulfillment.delivered",
}
"""The fulfillment event a batch sends on reaching a state. The Sandbox's other states
(`verifying_replacements`, `receipt_sanity_check`, `bags_check`) have no callback in the docs'
list, and a completed batch is a `delivered` order."""


def fulfillment_event_name(status: str) -> str:
    """`fulfillment.<status>`, e.g. for the Sandbox callbacks route's `canceled`."""
    return f"fulfillment.{status}"


class Event(Response):
    """One event callback: the envelope every event shares.

    `event_id` stays the same when a delivery is retried, so it is what a receiver dedupes on.
    """

    event_id: StrictInt
    event_name: str = Field(min_length=1)
    event_timestamp: Timestamp
    event_metadata: dict[str, Any] = Field(default_factory=dict)


class ChatMessageCreatedMetadata(Response):
    """`event_metadata` of `chat_message_created`."""

    topic_id: str


class FulfillmentEventMetadata(Response):
    """`event_metadata` of a `fulfillment.*` event: the retailer's order id (more fields kept)."""

    order_id: str


class ChatMessageCreated(Event):
    """`chat_message_created`: a chat message was created on the topic (the conversation)."""

    event_name: Literal["chat_message_created"] = CHAT_MESSAGE_CREATED
    event_metadata: ChatMessageCreatedMetadata  # type: ignore[assignment]

    @property
    def topic_id(self) -> str:
        """The conversation the message belongs to."""
        return self.event_metadata.topic_id


class FulfillmentEvent(Event):
    """`fulfillment.<status>`: the order moved, or one of its items was replaced or refunded."""

    event_name: FulfillmentEventName
    event_metadata: FulfillmentEventMetadata  # type: ignore[assignment]

    @property
    def order_id(self) -> str:
        """The retailer's id of the order."""
        return self.event_metadata.order_id

    @property
    def status(self) -> str:
        """The part after `fulfillment.`, e.g. `picking`."""
        return self.event_name.removeprefix("fulfillment.")


def parse_event(data: Mapping[str, Any]) -> Event:
    """An event from its JSON data: the typed model for a name in `EVENT_NAMES`, else `Event`.

    Raises `pydantic.ValidationError` when the envelope itself is wrong (no integer `event_id`,
    no name, a timestamp that is not ISO 8601, metadata that is not an object), or when a known
    event lacks its metadata field.
    """
    name = data.get("event_name") if isinstance(data, Mapping) else None
    if name == CHAT_MESSAGE_CREATED:
        return ChatMessageCreated.model_validate(data)
    if name in FULFILLMENT_EVENT_NAMES:
        return FulfillmentEvent.model_validate(data)
    return Event.model_validate(data)
