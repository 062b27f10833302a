"""Every Connect request and response body, and the error envelope, as pydantic models.

Requests are read strictly (a number is not a string, a bool not a number) and ignore unknown
fields, as the API does. Responses are read strictly about the documented fields' types and keep
unknown fields (a real server may add some: `model_extra`); a field the development server always
sends but a real server might leave out has a default, and the OpenAPI document (made in
serialization mode) still lists it as required.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shopper_chat.contract._rules import (
    BLANK,
    BatchType,
    BatchWorkflowState,
    Email,
    Flag,
    IdText,
    ImageUrl,
    ItemStatus,
    MessageText,
    NonBlank,
    NonNegativeInt,
    NonNegativeNumber,
    NumericId,
    OptionalText,
    OrderWorkflowState,
    Participant,
    ParticipantId,
    Phone,
    PositiveInt,
    PositiveNumber,
    RetailerId,
    SandboxCallbackEvent,
    SenderRole,
    Text,
    Timestamp,
    TokenText,
    problem,
)

__all__ = [
    "AccessToken",
    "AddItemRequest",
    "Address",
    "AdvanceBatchRequest",
    "Availability",
    "Batch",
    "BatchOrder",
    "CartItem",
    "ChatMessage",
    "ChatMetadata",
    "Conversation",
    "CreateBatchRequest",
    "CreateOrderRequest",
    "CreateShopperRequest",
    "CreateUserRequest",
    "Customer",
    "DeliveryOptionsRequest",
    "ErrorBody",
    "ErrorEnvelope",
    "ErrorMeta",
    "ItemCode",
    "MessageRequest",
    "MessagesRead",
    "Order",
    "OrderStatus",
    "OrderUser",
    "OrderWindow",
    "PreviewOptionsRequest",
    "Request",
    "Response",
    "SandboxCallbackRequest",
    "SentMessage",
    "ServiceOption",
    "ServiceOptionHold",
    "ServiceOptionHoldResponse",
    "ServiceOptions",
    "ServiceWindow",
    "Shopper",
    "ShopperProfile",
    "SingleError",
    "Success",
    "TokenRequest",
    "UpdateItemRequest",
    "User",
]


class Request(BaseModel):
    """A request body: strict types, unknown fields ignored."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True, allow_inf_nan=False,
                              arbitrary_types_allowed=True)  # fmt: skip


class Echoed(Request):
    """A nested object the API stores and echoes as given (address, item): extra keys kept."""

    model_config = ConfigDict(extra="allow")


class Response(BaseModel):
    """A response body: strict about documented fields, unknown fields kept in `model_extra`."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True, allow_inf_nan=False,
                              arbitrary_types_allowed=True,
                              json_schema_serialization_defaults_required=True)  # fmt: skip

    @property
    def raw(self) -> dict[str, Any]:
        """The whole answer as JSON-ready data, unknown fields included."""
        return self.model_dump(mode="json")


# -- requests --------------------------------------------------------------------------------------
class TokenRequest(Request):
    """`POST /v2/oauth/token`."""

    client_id: NonBlank
    client_secret: NonBlank
    grant_type: NonBlank
    scope: OptionalText = None
    assertion: OptionalText = None


class CreateUserRequest(Request):
    """`POST /v2/fulfillment/users`."""

    user_id: RetailerId
    first_name: NonBlank
    last_name: OptionalText = None
    phone_number: OptionalText = None
    locale: OptionalText = None


class Address(Echoed):
    """A delivery address."""

    address_line_1: NonBlank
    postal_code: NonBlank
    address_line_2: OptionalText = None
    address_type: OptionalText = None
    city: OptionalText = None
    state: OptionalText = None
    country: OptionalText = None


class ItemCode(Echoed):
    """An item by its `upc` or its `rrc` (one of them)."""

    upc: OptionalText = None
    rrc: OptionalText = None

    @model_validator(mode="after")
    def _one_code(self) -> ItemCode:
        if not (self.upc or self.rrc):
            raise problem(BLANK, key="upc")
        return self


class CartItem(Echoed):
    """A line of the cart: a `count` or a `weight` of an item."""

    line_num: NonBlank
    item: ItemCode
    weight: PositiveNumber | None = None
    # Checked as a field (after `weight`), not once the whole item is valid, so that a missing
    # amount is listed beside the item's other problems.
    count: PositiveNumber | None = Field(default=None, validate_default=True)
    special_instructions: OptionalText = None

    @field_validator("count")
    @classmethod
    def _an_amount(cls, count: float | None, info: ValidationInfo) -> float | None:
        # `weight` is absent from `info.data` when it was itself refused.
        if count is None and info.data.get("weight", 0) is None:
            raise problem(BLANK)
        return count


class DeliveryOptionsRequest(Request):
    """`POST /v2/fulfillment/users/{user_id}/service_options/cart/delivery`."""

    address: Address
    items: list[CartItem] = Field(min_length=1)


class PreviewOptionsRequest(Request):
    """`POST /v2/fulfillment/service_options/delivery`."""

    postal_code: NonBlank


class OrderUser(Echoed):
    """`user` of a new order: contact details that update the user."""

    first_name: OptionalText = None
    last_name: OptionalText = None
    phone_number: OptionalText = None


class CreateOrderRequest(Request):
    """`POST /v2/fulfillment/users/{user_id}/orders/delivery`."""

    order_id: RetailerId
    service_option_hold_id: PositiveInt
    initial_tip_cents: NonNegativeInt
    address: Address
    items: list[CartItem] = Field(min_length=1)
    special_instructions: OptionalText = None
    leave_unattended: Flag | None = None
    user: OrderUser | None = None


class CreateShopperRequest(Request):
    """`POST /v2/fulfillment_sandbox/shoppers`."""

    email: Email = None
    phone: Phone = None
    password: OptionalText = None


class BatchOrder(Request):
    """One order of a new batch."""

    id: RetailerId
    user_id: OptionalText = None


class CreateBatchRequest(Request):
    """`POST /v2/fulfillment_sandbox/batches`."""

    batch_type: BatchType = "delivery"
    shopper_id: PositiveInt
    orders: list[BatchOrder] = Field(min_length=1)
    workflow_state: BatchWorkflowState | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_type(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("batch_type") in (None, ""):
            return {**data, "batch_type": "delivery"}
        return data


class AdvanceBatchRequest(Request):
    """`POST /v2/fulfillment_sandbox/batches/{batch_id}/advance` (no state: the next one)."""

    workflow_state: BatchWorkflowState | None = None


class AddItemRequest(Request):
    """`POST /v2/fulfillment_sandbox/shoppers/{shopper_id}/orders/{order_id}/items`."""

    line_num: OptionalText = None
    item: ItemCode
    count: PositiveNumber | None = None
    weight: PositiveNumber | None = None
    status: ItemStatus | None = None


class UpdateItemRequest(Request):
    """`PUT /v2/fulfillment_sandbox/shoppers/{shopper_id}/orders/{order_id}/items/{line_num}`."""

    status: ItemStatus
    delivered_count: NonNegativeNumber | None = None
    delivered_weight: NonNegativeNumber | None = None
    replacement_item: ItemCode | None = None

    @model_validator(mode="after")
    def _replacement_named(self) -> UpdateItemRequest:
        if self.status == "replaced" and self.replacement_item is None:
            raise problem(BLANK, key="replacement_item")
        return self


class SandboxCallbackRequest(Request):
    """`POST /v2/fulfillment_sandbox/orders/{order_id}/callbacks`."""

    event_name: SandboxCallbackEvent


class MessageRequest(Request):
    """`POST /v2/post_checkout/chat/{order_id}/messages`: text, an image URL, or both."""

    body: MessageText = None
    image_url: ImageUrl = None

    @model_validator(mode="after")
    def _something(self) -> MessageRequest:
        if not self.body and not self.image_url:
            raise problem(BLANK, key="body")
        return self


# -- responses -------------------------------------------------------------------------------------
class AccessToken(Response):
    """`POST /v2/oauth/token`: the token itself is a `Secret`."""

    access_token: TokenText
    token_type: str = "Bearer"
    expires_in: PositiveInt
    scope: Text = ""
    created_at: int | None = None


class User(Response):
    """`POST /v2/fulfillment/users`: the user as the API echoes it (`user_id`, or `id`)."""

    user_id: IdText = Field(validation_alias=AliasChoices("user_id", "id"))
    first_name: str
    last_name: str | None = None
    phone_number: str | None = None
    locale: str | None = None


class OrderWindow(Response):
    """The delivery window of an order."""

    start_at: Timestamp
    end_at: Timestamp


class ServiceWindow(OrderWindow):
    """The window of a delivery slot."""

    type: str | None = None
    asap: bool | None = None


class Availability(Response):
    """Whether a slot can be had for the cart."""

    available: bool
    reasons: list[str] = []
    item_codes: list[str] = []


class ServiceOption(Response):
    """A delivery time slot for the customer's cart."""

    id: int
    service_option_reference: IdText = ""
    date: str | None = None
    window: ServiceWindow | None = None
    availability: Availability | None = None

    @property
    def window_start_at(self) -> datetime | None:
        """When the slot starts."""
        return self.window.start_at if self.window else None

    @property
    def window_end_at(self) -> datetime | None:
        """When the slot ends."""
        return self.window.end_at if self.window else None

    @property
    def window_type(self) -> str | None:
        """The slot's kind (`scheduled`, ...)."""
        return self.window.type if self.window else None


class ServiceOptions(Response):
    """The slots of a cart."""

    service_options: list[ServiceOption]


class ServiceOptionHold(Response):
    """A reserved slot: its `id` is the new order's `service_option_hold_id` (10 minutes)."""

    id: int
    expires_at: Timestamp | None = None
    service_option: ServiceOption | None = None


class ServiceOptionHoldResponse(Response):
    """`POST .../service_options/{id}/reserve`."""

    service_option_hold: ServiceOptionHold


def _unwrap(key: str, marker: str, data: Any) -> Any:
    # Some answers nest the record under `order`: accept both forms.
    if isinstance(data, Mapping) and key in data and marker not in data:
        return data[key]
    return data


class Order(Response):
    """A fulfillment order (`POST .../orders/delivery`, `GET .../orders/{order_id}`)."""

    id: IdText
    status: OrderWorkflowState
    created_at: Timestamp | None = None
    fulfillment_type: str | None = None
    locale: str | None = None
    window: OrderWindow | None = None
    address: dict[str, Any] | None = None
    items: tuple[dict[str, Any], ...] = Field(default=(), strict=False)
    initial_tip_cents: int | None = None
    special_instructions: str | None = None
    leave_unattended: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _nested(cls, data: Any) -> Any:
        return _unwrap("order", "id", data)


class OrderStatus(Response):
    """`GET /v2/post_checkout/orders/{order_id}`: what the order status page polls."""

    id: IdText
    workflow_state: OrderWorkflowState
    fulfillment_type: str | None = None
    created_at: Timestamp | None = None
    window: OrderWindow | None = None

    @model_validator(mode="before")
    @classmethod
    def _nested(cls, data: Any) -> Any:
        return _unwrap("order", "workflow_state", data)


class Shopper(Response):
    """A fictitious shopper (`POST /v2/fulfillment_sandbox/shoppers`)."""

    id: int


class Batch(Response):
    """A batch. `workflow_state` is None when the answer leaves it out (the tutorial's example
    shows only the id; a new batch starts in `acknowledged`)."""

    id: int
    workflow_state: BatchWorkflowState | None = None


class Success(Response):
    """`{"success": true}`."""

    success: bool


# What the development server writes, and what the README's guess "`read_at`" says: `read_at` is
# null until the message is read. Only the OpenAPI document says it; the client reads a `read_at`
# on an unread message as it comes (the tutorial's own example has one).
_READ_AT_RULE: dict[str, Any] = {
    "if": {"properties": {"read": {"const": False}}, "required": ["read"]},
    "then": {"properties": {"read_at": {"type": "null", "description": "while `read` is false"}}},
    "else": {"properties": {"read_at": {"type": "string", "description": "once `read` is true"}}},
}


class ChatMessage(Response):
    """One chat message, fields exactly as the API names them (times as aware UTC datetimes).

    Read tolerantly where a real server plausibly differs: empty or null sender and recipient
    (the tutorial's example leaves them ""), null text or image (read as ""), a `read_at` on an
    unread message."""

    model_config = ConfigDict(json_schema_extra=_READ_AT_RULE)

    id: int
    order_id: int
    created_at: Timestamp
    recipient_id: ParticipantId = ""
    recipient_type: Participant = ""
    sender_id: ParticipantId = ""
    sender_type: Participant = ""
    read: bool
    read_at: Timestamp | None = None
    body: Text = ""
    image: Text = ""

    @property
    def from_shopper(self) -> bool:
        """Sent by the shopper (`sender_type == "driver"`)."""
        return self.sender_type == "driver"

    @property
    def from_customer(self) -> bool:
        """Sent by the customer (`sender_type == "user"`)."""
        return self.sender_type == "user"


class Customer(Response):
    """`metadata.customer`."""

    id: NumericId = ""
    display_name: Text = ""


class ShopperProfile(Response):
    """One of `metadata.shoppers`."""

    id: NumericId = ""
    display_name: Text = ""
    avatar_url: Text = ""


class ChatMetadata(Response):
    """The customer, the shoppers, and whether the chat has expired (24 h after delivery)."""

    customer: Customer | None = None
    shoppers: tuple[ShopperProfile, ...] = Field(default=(), strict=False)
    is_expired: bool = False

    def sender_role(self, message: ChatMessage) -> SenderRole:
        """Who sent `message`: by its `sender_type` (`user` the customer, `driver` the shopper);
        where a server leaves that empty (as the tutorial's example does), by its ids compared
        with this metadata's customer and shoppers; "unknown" when nothing tells.

        The transcripts and the chat panel both ask here.
        """
        if message.sender_type == "user":
            return "customer"
        if message.sender_type == "driver":
            return "shopper"
        customer = str(self.customer.id) if self.customer is not None else ""
        shoppers = {str(s.id) for s in self.shoppers} - {""}
        sender, recipient = message.sender_id, message.recipient_id
        if sender and sender == customer:
            return "customer"
        if sender and sender in shoppers:
            return "shopper"
        if message.recipient_type == "driver" or (recipient and recipient in shoppers):
            return "customer"
        if message.recipient_type == "user" or (recipient and recipient == customer):
            return "shopper"
        return "unknown"


class Conversation(Response):
    """`GET /v2/post_checkout/chat/{order_id}/messages`: the whole conversation, oldest first."""

    chat_messages: tuple[ChatMessage, ...] = Field(strict=False)
    metadata: ChatMetadata = ChatMetadata()

    @model_validator(mode="before")
    @classmethod
    def _expired_beside(cls, data: Any) -> Any:
        # `is_expired` is accepted beside `metadata` too.
        if isinstance(data, Mapping) and "is_expired" in data:
            meta = data.get("metadata")
            meta = dict(meta) if isinstance(meta, Mapping) else {}
            meta["is_expired"] = data["is_expired"]
            data = {k: v for k, v in data.items() if k != "is_expired"} | {"metadata": meta}
        return data

    @property
    def is_expired(self) -> bool:
        """True when the chat has expired: `chat_messages` is then empty."""
        return self.metadata.is_expired

    @property
    def shopper_name(self) -> str:
        """The first shopper's display name, or ""."""
        return self.metadata.shoppers[0].display_name if self.metadata.shoppers else ""

    @property
    def customer_name(self) -> str:
        """The customer's display name, or ""."""
        return self.metadata.customer.display_name if self.metadata.customer else ""


class SentMessage(Response):
    """`POST /v2/post_checkout/chat/{order_id}/messages`: the stored message's id and time.

    `recovered` (not part of the answer) is True when the send's answer was lost and the message
    was found in the conversation instead; `timezone` is then "", the API did not say.
    """

    id: int
    type: str = "CHAT"
    created_at: Timestamp
    timezone: Text = ""
    recovered: bool = Field(default=False, exclude=True)


class MessagesRead(Response):
    """`PUT /v2/post_checkout/chat/{order_id}/messages`."""

    messages_read_count: int


# -- the error envelope ----------------------------------------------------------------------------
class ErrorMeta(Response):
    """`meta`: the field a 1001 names (`key`), else empty."""

    key: str | None = None


class ErrorBody(Response):
    """`error` of a single error."""

    message: str
    code: int | None


class SingleError(Response):
    """`{"error": {"message", "code"}, "meta": {"key"?}}`."""

    error: ErrorBody
    meta: ErrorMeta = ErrorMeta()


class SeveralErrorsBody(ErrorBody):
    """`error` of a 9999: every single error listed."""

    errors: list[SingleError] | None = None


class ErrorEnvelope(Response):
    """Every error answer: one error, or code 9999 with `error.errors` listing several."""

    error: SeveralErrorsBody
    meta: ErrorMeta = ErrorMeta()
