"""Typed results: frozen dataclasses named and shaped as the API names them.

Each has `from_api(data)`, which checks the documented shape and raises `ResponseShapeError`
naming the offending field (`chat_messages[2].created_at: expected an ISO 8601 string, got 42`)
instead of failing later with an `AttributeError`. Fields the API may add later are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal, TypeVar, cast, get_args

from shopper_chat._secret import Secret
from shopper_chat.client.errors import ResponseShapeError

__all__ = [
    "AccessToken",
    "Batch",
    "ChatMessage",
    "ChatMetadata",
    "Conversation",
    "Customer",
    "Order",
    "OrderStatus",
    "ParticipantType",
    "SentMessage",
    "ServiceOption",
    "ServiceOptionHold",
    "Shopper",
    "ShopperProfile",
    "User",
    "WorkflowState",
    "BATCH_WORKFLOW_STATES",
    "ORDER_WORKFLOW_STATES",
]

WorkflowState = Literal[
    "brand_new",
    "acknowledged",
    "picking",
    "verifying_replacements",
    "checkout",
    "receipt_sanity_check",
    "delivering",
    "completed",
    "bags_check",
    "staged",
    "delivered",
    "canceled",
]
"""Every workflow state an order or batch can show (delivery and pickup workflows, plus the order's
`delivered` and `canceled`)."""

ORDER_WORKFLOW_STATES: tuple[str, ...] = get_args(WorkflowState)
"""States `client.orders.get(...).workflow_state` can take, in workflow order."""

BATCH_WORKFLOW_STATES: tuple[str, ...] = tuple(
    s for s in ORDER_WORKFLOW_STATES if s not in ("delivered", "canceled")
)
"""States a batch can be advanced to (`client.sandbox.advance`)."""

ParticipantType = Literal["user", "driver", ""]
"""A chat participant: `user` is the customer, `driver` the shopper; "" when the API leaves it
empty (as in the tutorial's example)."""

_T = TypeVar("_T")


class _Reader:
    """Reads one JSON object, naming each field by its path when it is not as documented."""

    def __init__(self, data: Any, where: str = "") -> None:
        if not isinstance(data, Mapping):
            raise ResponseShapeError(
                where or "(response)", f"expected an object, got {_show(data)}"
            )
        self.data = data
        self.where = where

    def path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def _get(self, key: str, optional: bool) -> Any:
        if key not in self.data:
            if optional:
                return None
            raise ResponseShapeError(self.path(key), "missing")
        return self.data[key]

    def integer(self, key: str, *, optional: bool = False) -> Any:
        value = self._get(key, optional)
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ResponseShapeError(self.path(key), f"expected an integer, got {_show(value)}")
        return value

    def string(self, key: str, *, optional: bool = False, default: str | None = None) -> Any:
        value = self._get(key, optional)
        if value is None and optional:
            return default
        if not isinstance(value, str):
            raise ResponseShapeError(self.path(key), f"expected a string, got {_show(value)}")
        return value

    def id_str(self, key: str, *, optional: bool = False) -> Any:
        """An id the API sends as a string or a number (kept as a string)."""
        value = self._get(key, optional)
        if value is None:
            if optional:
                return ""
            raise ResponseShapeError(self.path(key), "expected a string or integer id, got null")
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ResponseShapeError(
                self.path(key), f"expected a string or integer id, got {_show(value)}"
            )
        return str(value)

    def boolean(self, key: str, *, optional: bool = False, default: bool = False) -> bool:
        value = self._get(key, optional)
        if value is None and optional:
            return default
        if not isinstance(value, bool):
            raise ResponseShapeError(self.path(key), f"expected true or false, got {_show(value)}")
        return value

    def time(self, key: str, *, optional: bool = False) -> Any:
        value = self._get(key, optional)
        if optional and (value is None or value == ""):
            return None
        return parse_time(value, self.path(key))

    def literal(self, key: str, allowed: tuple[_T, ...], *, optional: bool = False) -> Any:
        value = self._get(key, optional)
        if value is None and optional:
            return None
        if value not in allowed:
            choices = ", ".join(repr(a) for a in allowed)
            raise ResponseShapeError(
                self.path(key), f"expected one of {choices}, got {_show(value)}"
            )
        return value

    def obj(self, key: str, *, optional: bool = False) -> _Reader | None:
        value = self._get(key, optional)
        if value is None and optional:
            return None
        return _Reader(value, self.path(key))

    def array(self, key: str, *, optional: bool = False) -> list[Any]:
        value = self._get(key, optional)
        if value is None and optional:
            return []
        if not isinstance(value, list):
            raise ResponseShapeError(self.path(key), f"expected a list, got {_show(value)}")
        return value


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_FRACTION = re.compile(r"\.(\d+)")


def parse_time(value: Any, where: str) -> datetime:
    """An ISO 8601 timestamp (`2021-07-09T17:24:12Z`) as an aware UTC datetime."""
    if not isinstance(value, str):
        raise ResponseShapeError(where, f"expected an ISO 8601 string, got {_show(value)}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Python 3.10's parser takes 3 or 6 fraction digits only: pad or cut to 6.
    text = _FRACTION.sub(lambda m: "." + (m.group(1) + "000000")[:6], text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ResponseShapeError(
            where, f"expected an ISO 8601 string, got {_show(value)}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def format_time(moment: datetime) -> str:
    """The API's form of a timestamp: `2021-07-09T17:24:12Z` (UTC)."""
    moment = moment.astimezone(timezone.utc)
    text = moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def _raw(data: Mapping[str, Any]) -> Mapping[str, Any]:
    return dict(data)


# -- tokens ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AccessToken:
    """`POST /v2/oauth/token`: the token itself is a `Secret`."""

    access_token: Secret
    token_type: str
    expires_in: int
    scope: str
    created_at: int | None

    @classmethod
    def from_api(cls, data: Any) -> AccessToken:
        r = _Reader(data)
        token = r.string("access_token")
        if not token:
            raise ResponseShapeError("access_token", "expected a token, got an empty string")
        expires_in = r.integer("expires_in")
        if expires_in <= 0:
            raise ResponseShapeError("expires_in", f"expected a positive integer, got {expires_in}")
        return cls(
            access_token=Secret(token),
            token_type=r.string("token_type", optional=True, default="Bearer"),
            expires_in=expires_in,
            scope=r.string("scope", optional=True, default=""),
            created_at=r.integer("created_at", optional=True),
        )


# -- fulfillment -------------------------------------------------------------------------------
@dataclass(frozen=True)
class User:
    """`POST /v2/fulfillment/users`: the user as the API echoes it."""

    user_id: str
    first_name: str
    last_name: str | None = None
    phone_number: str | None = None
    locale: str | None = None

    @classmethod
    def from_api(cls, data: Any) -> User:
        r = _Reader(data)
        # The echo may name the id `user_id` or `id`.
        key = "user_id" if "user_id" in r.data else "id"
        return cls(
            user_id=r.id_str(key),
            first_name=r.string("first_name"),
            last_name=r.string("last_name", optional=True),
            phone_number=r.string("phone_number", optional=True),
            locale=r.string("locale", optional=True),
        )


@dataclass(frozen=True)
class ServiceOption:
    """A delivery time slot for the customer's cart."""

    id: int
    service_option_reference: str
    date: str | None
    window_start_at: datetime | None
    window_end_at: datetime | None
    window_type: str | None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Any, where: str = "") -> ServiceOption:
        r = _Reader(data, where)
        window = r.obj("window", optional=True)
        return cls(
            id=r.integer("id"),
            service_option_reference=r.id_str("service_option_reference", optional=True),
            date=r.string("date", optional=True),
            window_start_at=window.time("start_at", optional=True) if window else None,
            window_end_at=window.time("end_at", optional=True) if window else None,
            window_type=window.string("type", optional=True) if window else None,
            raw=_raw(r.data),
        )

    @classmethod
    def list_from_api(cls, data: Any) -> list[ServiceOption]:
        r = _Reader(data)
        return [
            cls.from_api(item, f"service_options[{i}]")
            for i, item in enumerate(r.array("service_options"))
        ]


@dataclass(frozen=True)
class ServiceOptionHold:
    """A reserved slot: `service_option_hold_id` for creating the order (lasts 10 minutes)."""

    id: int
    expires_at: datetime | None
    service_option: ServiceOption | None

    @classmethod
    def from_api(cls, data: Any) -> ServiceOptionHold:
        r = _Reader(data)
        hold = r.obj("service_option_hold")
        assert hold is not None
        option = hold.data.get("service_option")
        return cls(
            id=hold.integer("id"),
            expires_at=hold.time("expires_at", optional=True),
            service_option=(
                ServiceOption.from_api(option, hold.path("service_option"))
                if option is not None
                else None
            ),
        )


@dataclass(frozen=True)
class Order:
    """A fulfillment order (`POST .../orders/delivery`, `GET .../orders/{order_id}`).

    `raw` keeps the whole answer for the fields this class does not name.
    """

    id: str
    status: str
    created_at: datetime | None
    items: tuple[Mapping[str, Any], ...]
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Any) -> Order:
        r = _Reader(data)
        if "order" in r.data and "id" not in r.data:
            nested = r.obj("order")
            assert nested is not None
            r = nested
        items = r.array("items", optional=True)
        for i, item in enumerate(items):
            if not isinstance(item, Mapping):
                raise ResponseShapeError(
                    r.path(f"items[{i}]"), f"expected an object, got {_show(item)}"
                )
        return cls(
            id=r.id_str("id"),
            status=r.string("status"),
            created_at=r.time("created_at", optional=True),
            items=tuple(dict(item) for item in items),
            raw=_raw(r.data),
        )


# -- sandbox -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Shopper:
    """A fictitious shopper (`POST /v2/fulfillment_sandbox/shoppers`)."""

    id: int

    @classmethod
    def from_api(cls, data: Any) -> Shopper:
        return cls(id=_Reader(data).integer("id"))


@dataclass(frozen=True)
class Batch:
    """A batch (`POST /v2/fulfillment_sandbox/batches`, `.../advance`).

    `workflow_state` is None when the answer leaves it out (the tutorial's create-batch example
    shows only the id; a new batch starts in `acknowledged`).
    """

    id: int
    workflow_state: WorkflowState | None

    @classmethod
    def from_api(cls, data: Any) -> Batch:
        r = _Reader(data)
        return cls(
            id=r.integer("id"),
            workflow_state=r.literal("workflow_state", BATCH_WORKFLOW_STATES, optional=True),
        )


# -- post-checkout -----------------------------------------------------------------------------
@dataclass(frozen=True)
class OrderStatus:
    """`GET /v2/post_checkout/orders/{order_id}`: what the order status page polls."""

    id: str
    workflow_state: WorkflowState
    fulfillment_type: str | None
    created_at: datetime | None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Any) -> OrderStatus:
        r = _Reader(data)
        if "order" in r.data and "workflow_state" not in r.data:
            nested = r.obj("order")
            assert nested is not None
            r = nested
        return cls(
            id=r.id_str("id"),
            workflow_state=r.literal("workflow_state", ORDER_WORKFLOW_STATES),
            fulfillment_type=r.string("fulfillment_type", optional=True),
            created_at=r.time("created_at", optional=True),
            raw=_raw(r.data),
        )


@dataclass(frozen=True)
class ChatMessage:
    """One chat message, fields exactly as the API names them (times as aware UTC datetimes)."""

    id: int
    order_id: int
    created_at: datetime
    recipient_id: str
    recipient_type: ParticipantType
    sender_id: str
    sender_type: ParticipantType
    read: bool
    read_at: datetime | None
    body: str
    image: str

    @property
    def from_shopper(self) -> bool:
        """Sent by the shopper (`sender_type == "driver"`)."""
        return self.sender_type == "driver"

    @property
    def from_customer(self) -> bool:
        """Sent by the customer (`sender_type == "user"`)."""
        return self.sender_type == "user"

    @classmethod
    def from_api(cls, data: Any, where: str = "") -> ChatMessage:
        r = _Reader(data, where)
        kinds: tuple[str, ...] = get_args(ParticipantType)
        return cls(
            id=r.integer("id"),
            order_id=r.integer("order_id"),
            created_at=r.time("created_at"),
            recipient_id=r.id_str("recipient_id", optional=True),
            recipient_type=r.literal("recipient_type", kinds, optional=True) or "",
            sender_id=r.id_str("sender_id", optional=True),
            sender_type=r.literal("sender_type", kinds, optional=True) or "",
            read=r.boolean("read"),
            read_at=r.time("read_at", optional=True),
            body=r.string("body", optional=True, default=""),
            image=r.string("image", optional=True, default=""),
        )


@dataclass(frozen=True)
class Customer:
    """`metadata.customer`."""

    id: str
    display_name: str


@dataclass(frozen=True)
class ShopperProfile:
    """One of `metadata.shoppers`."""

    id: str
    display_name: str
    avatar_url: str


@dataclass(frozen=True)
class ChatMetadata:
    """The `metadata` block: the customer, the shoppers, and whether the chat has expired."""

    customer: Customer | None
    shoppers: tuple[ShopperProfile, ...]
    is_expired: bool

    @classmethod
    def from_api(cls, data: Any, where: str = "metadata") -> ChatMetadata:
        r = _Reader(data, where)
        c = r.obj("customer", optional=True)
        customer = (
            Customer(
                id=c.id_str("id", optional=True),
                display_name=c.string("display_name", optional=True, default=""),
            )
            if c is not None
            else None
        )
        shoppers = []
        for i, item in enumerate(r.array("shoppers", optional=True)):
            s = _Reader(item, r.path(f"shoppers[{i}]"))
            shoppers.append(
                ShopperProfile(
                    id=s.id_str("id", optional=True),
                    display_name=s.string("display_name", optional=True, default=""),
                    avatar_url=s.string("avatar_url", optional=True, default=""),
                )
            )
        return cls(
            customer=customer,
            shoppers=tuple(shoppers),
            is_expired=r.boolean("is_expired", optional=True, default=False),
        )


class MessageCache:
    """Parsed chat messages by id, with the raw read fields each was parsed from.

    The API changes a stored message only by marking it read, so a message whose id, `read`
    and `read_at` are as before is the same message: the cached object is returned as is.
    """

    def __init__(self) -> None:
        self._by_id: dict[int, tuple[Any, Any, ChatMessage]] = {}

    def parse(self, item: Any, where: str) -> ChatMessage:
        """`ChatMessage.from_api(item, where)`, reusing the message parsed before if unchanged."""
        if isinstance(item, dict):
            key = item.get("id")
            hit = self._by_id.get(key) if type(key) is int else None
            if hit is not None and hit[0] == item.get("read") and hit[1] == item.get("read_at"):
                return hit[2]
        message = ChatMessage.from_api(item, where)
        self._by_id[message.id] = (item.get("read"), item.get("read_at"), message)
        return message


@dataclass(frozen=True)
class Conversation:
    """`GET /v2/post_checkout/chat/{order_id}/messages`: the whole conversation, oldest first."""

    chat_messages: tuple[ChatMessage, ...]
    metadata: ChatMetadata

    @property
    def is_expired(self) -> bool:
        """True when the chat has expired (24 h after delivery): `chat_messages` is then empty."""
        return self.metadata.is_expired

    @property
    def shopper_name(self) -> str:
        """The first shopper's display name, or "" when no shopper is known."""
        return self.metadata.shoppers[0].display_name if self.metadata.shoppers else ""

    @property
    def customer_name(self) -> str:
        """The customer's display name, or ""."""
        return self.metadata.customer.display_name if self.metadata.customer else ""

    @classmethod
    def from_api(cls, data: Any, known: MessageCache | None = None) -> Conversation:
        """Parse a conversation; with `known`, a message seen before is parsed only again
        when its read state changed (what keeps a poll's cost flat in a long chat)."""
        r = _Reader(data)
        parse = known.parse if known is not None else ChatMessage.from_api
        messages = tuple(
            parse(item, f"chat_messages[{i}]") for i, item in enumerate(r.array("chat_messages"))
        )
        meta_data = r.data.get("metadata")
        metadata = (
            ChatMetadata.from_api(meta_data)
            if meta_data is not None
            else ChatMetadata(customer=None, shoppers=(), is_expired=False)
        )
        if "is_expired" in r.data:  # accepted beside `metadata` too
            metadata = ChatMetadata(
                metadata.customer, metadata.shoppers, r.boolean("is_expired")
            )
        return cls(chat_messages=messages, metadata=metadata)


@dataclass(frozen=True)
class SentMessage:
    """`POST /v2/post_checkout/chat/{order_id}/messages`: the stored message's id and time.

    `recovered` is True when the send's answer was lost and the message was found in the
    conversation instead (then `timezone` is "", the API did not say).
    """

    id: int
    type: str
    created_at: datetime
    timezone: str
    recovered: bool = False

    @classmethod
    def from_api(cls, data: Any) -> SentMessage:
        r = _Reader(data)
        return cls(
            id=r.integer("id"),
            type=r.string("type", optional=True, default="CHAT"),
            created_at=r.time("created_at"),
            timezone=r.string("timezone", optional=True, default=""),
        )


def messages_read_count(data: Any) -> int:
    """`PUT .../messages`: `{"messages_read_count": int}`."""
    return cast(int, _Reader(data).integer("messages_read_count"))
