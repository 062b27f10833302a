"""The contract's atoms: enums, limits, patterns, error codes and messages, each defined once.

Every other module (the development server's validation and its OpenAPI document, the client's
types and input checks, the chat panel) reads these names; none spells a value out again.
"""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
    StrictBool,
    StrictInt,
    StrictStr,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from shopper_chat._secret import Secret
from shopper_chat._time import format_time, parse_time

__all__ = [
    "BATCH_TYPES",
    "BATCH_WORKFLOW_STATES",
    "BLANK",
    "BatchType",
    "BatchWorkflowState",
    "CHAT_OPEN_STATES",
    "CLIENT_GRANT",
    "ErrorCode",
    "GRANT_SCOPES",
    "IMAGE_URL_PATTERN",
    "INVALID",
    "ITEM_STATUSES",
    "IdText",
    "ImageUrl",
    "ItemStatus",
    "MAX_MESSAGE_LENGTH",
    "MessageText",
    "Messages",
    "NOT_IN_LIST",
    "NonBlank",
    "NumericId",
    "ORDER_WORKFLOW_STATES",
    "OptionalText",
    "OrderWorkflowState",
    "Participant",
    "ParticipantId",
    "ParticipantType",
    "PositiveInt",
    "PositiveNumber",
    "RetailerId",
    "SANDBOX_CALLBACK_EVENTS",
    "SandboxCallbackEvent",
    "SenderRole",
    "Text",
    "Timestamp",
    "TokenText",
    "UNKNOWN_FIELD",
    "USER_GRANT",
    "WORKFLOWS",
    "problem",
]

# -- enums -----------------------------------------------------------------------------------------
BatchWorkflowState = Literal[
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
]
"""Every state of a Sandbox batch (the delivery and pickup workflows)."""

OrderWorkflowState = Literal[BatchWorkflowState, Literal["delivered", "canceled"]]
"""What an order's `workflow_state` shows: its batch's state (`completed` shows as `delivered`),
`brand_new` before a batch, `canceled` once canceled."""

BatchType = Literal["delivery", "pickup", "delivery_only", "runner_customer"]
"""`batch_type` of `POST /v2/fulfillment_sandbox/batches`."""

ItemStatus = Literal["found", "replaced", "to_refund", "not_found"]
"""The status a shopper gives an item (`PUT .../items/{line_num}`)."""

SandboxCallbackEvent = Literal["canceled", "rescheduled", "late_delivery"]
"""`event_name` of `POST /v2/fulfillment_sandbox/orders/{order_id}/callbacks`."""

ParticipantType = Literal["user", "driver", ""]
"""A chat participant: `user` is the customer, `driver` the shopper; "" when the API leaves it
empty (as the tutorial's example does)."""

SenderRole = Literal["customer", "shopper", "unknown"]
"""Who sent a message, as the transcripts and the panel show it (`ChatMetadata.sender_role`)."""

BATCH_WORKFLOW_STATES: tuple[str, ...] = get_args(BatchWorkflowState)
ORDER_WORKFLOW_STATES: tuple[str, ...] = (*BATCH_WORKFLOW_STATES, "delivered", "canceled")
BATCH_TYPES: tuple[str, ...] = get_args(BatchType)
ITEM_STATUSES: tuple[str, ...] = get_args(ItemStatus)
SANDBOX_CALLBACK_EVENTS: tuple[str, ...] = get_args(SandboxCallbackEvent)

_DELIVERY: tuple[str, ...] = (
    "brand_new", "acknowledged", "picking", "verifying_replacements", "checkout",
    "receipt_sanity_check", "delivering", "completed",
)  # fmt: skip
_PICKUP: tuple[str, ...] = (*_DELIVERY[:6], "bags_check", "staged")

WORKFLOWS: dict[str, tuple[str, ...]] = {
    "delivery": _DELIVERY,
    "delivery_only": _DELIVERY,
    "runner_customer": _DELIVERY,
    "pickup": _PICKUP,
}
"""Each batch type's states, in workflow order."""

CHAT_OPEN_STATES: frozenset[str] = frozenset(BATCH_WORKFLOW_STATES) - {"completed", "staged"}
"""Batch states in which the customer and the shopper may send messages."""

CLIENT_GRANT = "client_credentials"
"""The retailer's token: Fulfillment and Sandbox APIs."""
USER_GRANT = "fulfillment_user_assertion"
"""The customer's user access token: order status and chat."""
GRANT_SCOPES: dict[str, str] = {
    CLIENT_GRANT: "connect:fulfillment",
    USER_GRANT: "connect:post_checkout",
}
"""Each grant's one documented scope (the default when a token request names none)."""

# -- limits and patterns ---------------------------------------------------------------------------
MAX_MESSAGE_LENGTH = 1000
"""The most characters a chat message's `body` may have."""

IMAGE_URL_PATTERN = r"^https?://[^\s/$.?#]\S*$"
"""The image URLs a message may carry: `http://` or `https://` (that case), a host, no spaces."""

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
PHONE_PATTERN = r"^\+?[0-9]{10,15}$"
RETAILER_ID_PATTERN = r"^[^\s\x00-\x1f\x7f](?:[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f])?$"
"""A retailer's id (user, order): not blank, no surrounding spaces, no control characters."""


# -- error codes and messages ----------------------------------------------------------------------
class ErrorCode(IntEnum):
    """The `error.code` values of the API's error envelope."""

    INVALID_PARAMETER = 1001
    RETRY_LATER = 2003
    NOT_FOUND = 4000
    USER_NOT_FOUND = 4001
    UNEXPECTED = 5000
    SEVERAL = 9999


class Messages:
    """The API's error messages, in its words."""

    BLANK = "can't be blank"
    INVALID = "is invalid"
    TOO_LONG = "is too long (maximum is {max_length} characters)"
    NOT_IN_LIST = "is not included in the list"
    UNKNOWN_FIELD = "is not a known field"
    TAKEN = "has already been taken"
    GREATER_THAN = "must be greater than {gt}"
    GREATER_EQUAL = "must be greater than or equal to {ge}"
    LESS_EQUAL = "must be less than or equal to {le}"
    INVALID_EMAIL = "Invalid email"
    INVALID_PHONE = "Invalid phone number"
    PHONE_TAKEN = "An account already exists with this number"
    SHOPPER_NOT_FOUND = "Shopper not found"
    ORDER_NOT_FOUND = "Order not found"
    SEVERAL = "There were issues with your request"
    NOT_FOUND = "Resource not found"
    USER_NOT_FOUND = "User ID not found"
    CHAT_NOT_ALLOWED = "Sending a message is not allowed at this time"
    INVALID_TOKEN = "Invalid access token"
    MISSING_TOKEN = "Missing access token"
    EXPIRED_TOKEN = "Expired access token"
    INVALID_CREDENTIALS = "Invalid client credentials"
    FORBIDDEN = "You are not allowed to perform this action"
    RETRY_LATER = "Too many requests, retry later"
    UNEXPECTED = "An unexpected error occurred"
    METHOD_NOT_ALLOWED = "Method not allowed"


BLANK = Messages.BLANK
INVALID = Messages.INVALID
NOT_IN_LIST = Messages.NOT_IN_LIST
UNKNOWN_FIELD = Messages.UNKNOWN_FIELD


def problem(message: str, *, key: str | None = None, **context: Any) -> PydanticCustomError:
    """A validation problem in the API's words; `key` names the field when a whole object's rule
    fails (e.g. a message with neither text nor image is "can't be blank" at `body`)."""
    ctx = dict(context)
    if key is not None:
        ctx["key"] = key
    return PydanticCustomError("connect", message, ctx or None)


# -- annotated types -------------------------------------------------------------------------------
def _absent_if_empty(value: Any) -> Any:
    # The contract: an empty string in an optional field counts as absent.
    return None if value == "" else value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise problem(BLANK)
    return value


def _timestamp(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("timestamp", "expected an ISO 8601 string, got {got}",
                                  {"got": _show(value)})
    try:
        return parse_time(value)
    except ValueError:
        raise PydanticCustomError("timestamp", "expected an ISO 8601 string, got {got}",
                                  {"got": _show(value)}) from None


def _empty_if_null(value: Any) -> Any:
    # A real server may write null where the contract has "" (no text, no image, no sender).
    return "" if value is None else value


def _id_text(value: Any) -> Any:
    # Ids the API may send as a number or a string are kept as strings.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


NonBlank = Annotated[StrictStr, AfterValidator(_not_blank), Field(min_length=1, pattern=r"\S")]
"""A required text that is not blank."""

OptionalText = Annotated[StrictStr | None, BeforeValidator(_absent_if_empty)]
"""An optional text; "" counts as absent."""

RetailerId = Annotated[StrictStr, AfterValidator(_not_blank), Field(pattern=RETAILER_ID_PATTERN)]
"""The retailer's id of a user or an order."""

IdText = Annotated[StrictStr, BeforeValidator(_id_text)]
"""An id the API sends as a string or a number, kept as a string."""


Text = Annotated[
    StrictStr,
    BeforeValidator(_empty_if_null),
    WithJsonSchema({"type": ["string", "null"]}, mode="validation"),
]
"""A text of an answer that may be empty: "" in the contract, and null is read as "" too.

The answers' OpenAPI schema (serialization mode) still says a string: what the development server
writes. `shopper-chat check` reports a null there, and that the client reads it."""

ParticipantId = Annotated[
    IdText,
    BeforeValidator(_empty_if_null),
    WithJsonSchema({"type": "string", "minLength": 1}, mode="serialization"),
]
"""A message's `sender_id` / `recipient_id`: read as a string ("" for empty or null); the
development server always writes one (the README's guess "Identity")."""

Participant = Annotated[
    ParticipantType,
    BeforeValidator(_empty_if_null),
    WithJsonSchema({"type": "string", "enum": ["user", "driver"]}, mode="serialization"),
]
"""A message's `sender_type` / `recipient_type`: read as `ParticipantType` (null as ""), written
by the development server as `user` or `driver` only. The tutorial's example leaves both empty,
so the readers tell the sender by the conversation's metadata (`ChatMetadata.sender_role`)."""


def _number_if_digits(value: str) -> int | str:
    return int(value) if value.isascii() and value.isdigit() else value


NumericId = Annotated[
    IdText,
    BeforeValidator(_empty_if_null),
    PlainSerializer(_number_if_digits, when_used="json"),
    WithJsonSchema({"anyOf": [{"type": "integer"}, {"type": "string"}]}),
]
"""An id read as `IdText` (null as "") that the API writes as a number (the tutorial's
`metadata` ids)."""

MessageText = Annotated[Annotated[StrictStr, Field(max_length=MAX_MESSAGE_LENGTH)] | None,
                        BeforeValidator(_absent_if_empty)]  # fmt: skip
"""A chat message's text: at most `MAX_MESSAGE_LENGTH` characters; "" counts as absent."""

ImageUrl = Annotated[Annotated[StrictStr, Field(pattern=IMAGE_URL_PATTERN)] | None,
                     BeforeValidator(_absent_if_empty)]  # fmt: skip
"""A chat message's picture: an http(s) URL; "" counts as absent."""

Email = Annotated[Annotated[StrictStr, Field(pattern=EMAIL_PATTERN)] | None,
                  BeforeValidator(_absent_if_empty)]  # fmt: skip
Phone = Annotated[Annotated[StrictStr, Field(pattern=PHONE_PATTERN)] | None,
                  BeforeValidator(_absent_if_empty)]  # fmt: skip

PositiveNumber = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegativeNumber = Annotated[float, Field(ge=0, allow_inf_nan=False)]
NonNegativeInt = Annotated[StrictInt, Field(ge=0)]
PositiveInt = Annotated[StrictInt, Field(gt=0)]
"""An id Instacart gives as a number (shopper, batch, service option, hold): a positive integer."""
Flag = StrictBool

Timestamp = Annotated[
    datetime,
    BeforeValidator(_timestamp),
    PlainSerializer(format_time, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
"""A moment: ISO 8601 UTC with `Z` on the wire, an aware UTC datetime in Python."""


def _reveal(secret: Secret) -> str:
    return secret.get_secret_value()


def _secret(value: Any) -> Any:
    if isinstance(value, str):
        if not value:
            raise PydanticCustomError("token", "expected a token, got an empty string")
        return Secret(value)
    if isinstance(value, Secret):
        return value
    raise PydanticCustomError("string_type", "expected a string, got {got}",
                              {"got": _show(value)})  # fmt: skip


TokenText = Annotated[
    Secret,
    BeforeValidator(_secret),
    PlainSerializer(_reveal, return_type=str),
    WithJsonSchema({"type": "string", "minLength": 1}),
]
"""An access token: a `Secret` in Python (never shown), the plain text on the wire."""
