"""The server's own OpenAPI document, written by hand from the contract.

`/openapi.json` describes the real Connect routes only (what a client or a fuzzer may call);
the control plane is listed apart, under the top-level extension `x-emulator`, in the same
format, so that nothing there can be mistaken for a Connect path.
"""

from __future__ import annotations

import copy
from typing import Any

from .workflow import WorkflowState

__all__ = ["openapi_document"]

Schema = dict[str, Any]

NON_BLANK = r"\S"
#: The image URLs the server accepts (the same pattern, anchored, in `responses.py`).
IMAGE_URL_PATTERN = r"^https?://[^\s/$.?#]\S*$"


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(
    properties: dict[str, Schema], required: list[str] | None = None, *, closed: bool = True
) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    schema["additionalProperties"] = not closed
    return schema


def _str(**extra: Any) -> Schema:
    return {"type": "string", **extra}


def _opt_str(**extra: Any) -> Schema:
    return {"type": "string", "nullable": True, **extra}


def _int(**extra: Any) -> Schema:
    return {"type": "integer", **extra}


TIME = _str(format="date-time")

_ITEM_CODE = {
    "type": "object",
    "properties": {"upc": _opt_str(), "rrc": _opt_str()},
    "anyOf": [
        {"required": ["upc"], "properties": {"upc": _str(minLength=1)}},
        {"required": ["rrc"], "properties": {"rrc": _str(minLength=1)}},
    ],
}
STATES = [state.value for state in WorkflowState]
_POSITIVE = {"type": "number", "minimum": 0, "exclusiveMinimum": True, "nullable": True}

SCHEMAS: dict[str, Schema] = {
    "SingleError": _obj(
        {
            "error": _obj({"message": _str(), "code": _int(nullable=True)}, ["message", "code"]),
            "meta": _obj({"key": _str()}),
        },
        ["error", "meta"],
    ),
    "Error": _obj(
        {
            "error": _obj(
                {
                    "message": _str(),
                    "code": _int(nullable=True),
                    "errors": {"type": "array", "items": _ref("SingleError")},
                },
                ["message", "code"],
            ),
            "meta": _obj({"key": _str()}),
        },
        ["error", "meta"],
    ),
    "Token": _obj(
        {
            "access_token": _str(),
            "token_type": _str(enum=["Bearer"]),
            "expires_in": _int(),
            "scope": _str(),
            "created_at": _int(),
        },
        ["access_token", "token_type", "expires_in", "scope", "created_at"],
    ),
    "User": _obj(
        {
            "user_id": _str(),
            "first_name": _str(),
            "last_name": _opt_str(),
            "phone_number": _opt_str(),
            "locale": _opt_str(),
        },
        ["user_id", "first_name", "last_name", "phone_number", "locale"],
    ),
    "Window": _obj({"start_at": TIME, "end_at": TIME}, ["start_at", "end_at"]),
    "ServiceOption": _obj(
        {
            "id": _int(),
            "service_option_reference": _str(),
            "date": _str(format="date"),
            "window": _obj(
                {"start_at": TIME, "end_at": TIME, "type": _str(), "asap": {"type": "boolean"}},
                ["start_at", "end_at", "type", "asap"],
            ),
            "availability": _obj(
                {
                    "available": {"type": "boolean"},
                    "reasons": {"type": "array", "items": _str()},
                    "item_codes": {"type": "array", "items": _str()},
                },
                ["available", "reasons", "item_codes"],
            ),
        },
        ["id", "service_option_reference", "date", "window", "availability"],
    ),
    "ServiceOptions": _obj(
        {"service_options": {"type": "array", "items": _ref("ServiceOption")}},
        ["service_options"],
    ),
    "ServiceOptionHold": _obj(
        {
            "service_option_hold": _obj(
                {"id": _int(), "expires_at": TIME, "service_option": _ref("ServiceOption")},
                ["id", "expires_at", "service_option"],
            )
        },
        ["service_option_hold"],
    ),
    "Order": _obj(
        {
            "id": _str(),
            "status": _str(),
            "created_at": TIME,
            "fulfillment_type": _str(),
            "locale": _opt_str(),
            "window": _ref("Window"),
            "address": {"type": "object"},
            "items": {"type": "array", "items": {"type": "object"}},
            "initial_tip_cents": _int(),
            "special_instructions": _opt_str(),
            "leave_unattended": {"type": "boolean", "nullable": True},
        },
        [
            "id",
            "status",
            "created_at",
            "fulfillment_type",
            "window",
            "address",
            "items",
            "initial_tip_cents",
            "special_instructions",
            "leave_unattended",
            "locale",
        ],
    ),  # fmt: skip
    "OrderStatus": _obj(
        {
            "id": _str(),
            "workflow_state": _str(),
            "fulfillment_type": _str(),
            "created_at": TIME,
            "window": _ref("Window"),
        },
        ["id", "workflow_state", "fulfillment_type", "created_at", "window"],
    ),
    "Shopper": _obj({"id": _int()}, ["id"]),
    "Batch": _obj({"id": _int(), "workflow_state": _str()}, ["id", "workflow_state"]),
    "Success": _obj({"success": {"type": "boolean"}}, ["success"]),
    "ChatMessage": _obj(
        {
            "id": _int(),
            "order_id": _int(),
            "created_at": TIME,
            "recipient_id": _str(),
            "recipient_type": _str(enum=["user", "driver", ""]),
            "sender_id": _str(),
            "sender_type": _str(enum=["user", "driver", ""]),
            "read": {"type": "boolean"},
            "read_at": _str(format="date-time", nullable=True),
            "body": _str(),
            "image": _str(),
        },
        [
            "id",
            "order_id",
            "created_at",
            "recipient_id",
            "recipient_type",
            "sender_id",
            "sender_type",
            "read",
            "read_at",
            "body",
            "image",
        ],
    ),  # fmt: skip
    "Conversation": _obj(
        {
            "chat_messages": {"type": "array", "items": _ref("ChatMessage")},
            "metadata": _obj(
                {
                    "customer": _obj(
                        {"id": _int(), "display_name": _str()}, ["id", "display_name"]
                    ),
                    "shoppers": {
                        "type": "array",
                        "items": _obj(
                            {"id": _int(), "display_name": _str(), "avatar_url": _str()},
                            ["id", "display_name", "avatar_url"],
                        ),
                    },
                    "is_expired": {"type": "boolean"},
                },
                ["customer", "shoppers", "is_expired"],
            ),
        },
        ["chat_messages", "metadata"],
    ),
    "SentMessage": _obj(
        {"id": _int(), "type": _str(enum=["CHAT"]), "created_at": TIME, "timezone": _str()},
        ["id", "type", "created_at", "timezone"],
    ),
    "MessagesRead": _obj({"messages_read_count": _int(minimum=0)}, ["messages_read_count"]),
    # Request bodies. Connect ignores fields it does not know (additionalProperties: true).
    "TokenRequest": _obj(
        {
            "client_id": _str(pattern=NON_BLANK),
            "client_secret": _str(pattern=NON_BLANK),
            "grant_type": _str(pattern=NON_BLANK),
            "scope": _opt_str(),
            "assertion": _opt_str(),
        },
        ["client_id", "client_secret", "grant_type"],
        closed=False,
    ),
    "CreateUserRequest": _obj(
        {
            "user_id": _str(pattern=NON_BLANK),
            "first_name": _str(pattern=NON_BLANK),
            "last_name": _opt_str(),
            "phone_number": _opt_str(),
            "locale": _opt_str(),
        },
        ["user_id", "first_name"],
        closed=False,
    ),
    "Address": _obj(
        {
            "address_line_1": _str(pattern=NON_BLANK),
            "address_line_2": _opt_str(),
            "address_type": _opt_str(),
            "postal_code": _str(pattern=NON_BLANK),
            "city": _opt_str(),
            "state": _opt_str(),
            "country": _opt_str(),
        },
        ["address_line_1", "postal_code"],
        closed=False,
    ),
    "ItemCode": _ITEM_CODE,
    "CartItem": {
        **_obj(
            {
                "line_num": _str(pattern=NON_BLANK),
                "count": _POSITIVE,
                "weight": _POSITIVE,
                "item": _ref("ItemCode"),
                "special_instructions": _opt_str(),
            },
            ["line_num", "item"],
            closed=False,
        ),
        "anyOf": [
            {"required": ["count"], "properties": {"count": {"type": "number"}}},
            {"required": ["weight"], "properties": {"weight": {"type": "number"}}},
        ],
    },
    "CartRequest": _obj(
        {
            "address": _ref("Address"),
            "items": {"type": "array", "minItems": 1, "items": _ref("CartItem")},
        },
        ["address", "items"],
        closed=False,
    ),
    "PreviewRequest": _obj({"postal_code": _str(pattern=NON_BLANK)}, ["postal_code"], closed=False),
    "CreateOrderRequest": _obj(
        {
            "order_id": _str(pattern=NON_BLANK),
            "service_option_hold_id": _int(),
            "initial_tip_cents": _int(minimum=0),
            "address": _ref("Address"),
            "items": {"type": "array", "minItems": 1, "items": _ref("CartItem")},
            "special_instructions": _opt_str(),
            "leave_unattended": {"type": "boolean", "nullable": True},
            "user": {
                "type": "object",
                "nullable": True,
                "properties": {k: _opt_str() for k in ("first_name", "last_name", "phone_number")},
            },
        },
        ["order_id", "service_option_hold_id", "initial_tip_cents", "address", "items"],
        closed=False,
    ),
    "CreateShopperRequest": _obj(
        {
            "email": _opt_str(pattern=r"^$|^[^@\s]+@[^@\s]+\.[^@\s]+$"),
            "phone": _opt_str(pattern=r"^$|^\+?[0-9]{10,15}$"),
            "password": _opt_str(),
        },
        closed=False,
    ),
    "CreateBatchRequest": _obj(
        {
            "batch_type": _str(
                enum=["delivery", "pickup", "delivery_only", "runner_customer"], nullable=True
            ),
            "shopper_id": _int(),
            "orders": {
                "type": "array",
                "minItems": 1,
                "items": _obj(
                    {"id": _str(pattern=NON_BLANK), "user_id": _opt_str()}, ["id"], closed=False
                ),
            },
            "workflow_state": _str(enum=STATES, nullable=True),
        },
        ["shopper_id", "orders"],
        closed=False,
    ),
    "AdvanceRequest": _obj({"workflow_state": _str(enum=STATES, nullable=True)}, closed=False),
    "AddItemRequest": _obj(
        {
            "line_num": _opt_str(),
            "item": _ref("ItemCode"),
            "count": _POSITIVE,
            "weight": _POSITIVE,
            "status": _str(enum=["found", "replaced", "to_refund", "not_found"], nullable=True),
        },
        ["item"],
        closed=False,
    ),
    "UpdateItemRequest": _obj(
        {
            "status": _str(enum=["found", "replaced", "to_refund", "not_found"]),
            "delivered_count": {"type": "number", "minimum": 0, "nullable": True},
            "delivered_weight": {"type": "number", "minimum": 0, "nullable": True},
            "replacement_item": {**_ITEM_CODE, "nullable": True},
        },
        ["status"],
        closed=False,
    )
    | {
        # A replaced item names its replacement.
        "anyOf": [
            {"properties": {"status": {"enum": ["found", "to_refund", "not_found"]}}},
            {"required": ["replacement_item"], "properties": {"replacement_item": _ITEM_CODE}},
        ]
    },
    "CallbackRequest": _obj(
        {"event_name": _str(enum=["canceled", "rescheduled", "late_delivery"])},
        ["event_name"],
        closed=False,
    ),
    "SendMessageRequest": {
        **_obj(
            {
                "body": _opt_str(maxLength=1000),
                "image_url": _opt_str(pattern=f"^$|{IMAGE_URL_PATTERN}"),
            },
            closed=False,
        ),
        "anyOf": [
            {"required": ["body"], "properties": {"body": _str(minLength=1)}},
            {"required": ["image_url"], "properties": {"image_url": _str(minLength=1)}},
        ],
    },
}

_ERROR_TEXT = {
    "400": "Invalid parameter (code 1001, meta.key names it), several (code 9999), or 4001",
    "401": "Access token missing, invalid or expired (code null)",
    "403": "Not allowed (code null)",
    "404": "Resource not found (code 4000)",
    "408": "Request timeout",
    "429": "Too many requests, retry later (code 2003); Retry-After may be present",
    "500": "Unexpected error (code 5000)",
    "503": "Service unavailable (code 5000)",
}


def _error(status: str) -> Schema:
    response: Schema = {
        "description": _ERROR_TEXT[status],
        "content": {"application/json": {"schema": _ref("Error")}},
    }
    if status in ("429", "503"):
        response["headers"] = {
            "Retry-After": {"description": "seconds to wait", "schema": _str(pattern=r"^\d+$")}
        }
    return response


def _operation(
    operation_id: str,
    summary: str,
    ok: str,
    *,
    body: str | None = None,
    body_required: bool = True,
    params: list[Schema] | None = None,
    secured: bool = True,
    tag: str,
) -> Schema:
    op: Schema = {
        "operationId": operation_id,
        "summary": summary,
        "tags": [tag],
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": _ref(ok)}}},
            **{s: _error(s) for s in ("400", "401", "403", "404", "408", "429", "500", "503")},
            "default": {
                "description": "Any other error, in the same envelope",
                "content": {"application/json": {"schema": _ref("Error")}},
            },
        },
    }
    if not secured:
        op["security"] = []
    if params:
        op["parameters"] = params
    if body:
        op["requestBody"] = {
            "required": body_required,
            "content": {"application/json": {"schema": _ref(body)}},
        }
    return op


def _path(name: str, schema: Schema | None = None) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": schema or _str()}


_INTERNAL = {
    "name": "X-Treat-Ids-As-Internal",
    "in": "header",
    "required": False,
    "description": "`true`: the path's order id is Instacart's internal (integer) order id",
    "schema": _str(enum=["true", "false"]),
}


def _paths() -> dict[str, Schema]:
    user = _path("user_id")
    order = _path("order_id")
    integer = _int(minimum=0)
    users = "/v2/fulfillment/users/{user_id}"
    sandbox = "/v2/fulfillment_sandbox"
    items = sandbox + "/shoppers/{shopper_id}/orders/{order_id}/items"
    chat = [order, _INTERNAL]
    f, s, p = "fulfillment", "sandbox", "post_checkout"
    return {
        "/v2/oauth/token": {
            "post": _operation(
                "createToken",
                "Get an access token",
                "Token",
                body="TokenRequest",
                secured=False,
                tag="auth",
            )  # fmt: skip
        },
        "/v2/fulfillment/users": {
            "post": _operation(
                "createUser", "Create a user", "User", body="CreateUserRequest", tag=f
            )  # fmt: skip
        },
        users + "/service_options/cart/delivery": {
            "post": _operation(
                "listDeliveryOptions",
                "List delivery slots for a cart",
                "ServiceOptions",
                body="CartRequest",
                params=[user],
                tag=f,
            )
        },  # fmt: skip
        "/v2/fulfillment/service_options/delivery": {
            "post": _operation(
                "previewDeliveryOptions",
                "Preview delivery slots",
                "ServiceOptions",
                body="PreviewRequest",
                tag=f,
            )
        },  # fmt: skip
        users + "/service_options/{service_option_id}/reserve": {
            "post": _operation(
                "reserveServiceOption",
                "Reserve a slot (10-minute hold)",
                "ServiceOptionHold",
                params=[user, _path("service_option_id", integer)],
                tag=f,
            )
        },  # fmt: skip
        users + "/orders/delivery": {
            "post": _operation(
                "createDeliveryOrder",
                "Create a delivery order",
                "Order",
                body="CreateOrderRequest",
                params=[user],
                tag=f,
            )
        },  # fmt: skip
        users + "/orders/{order_id}": {
            "get": _operation(
                "getDeliveryOrder", "Get an order", "Order", params=[user, order], tag=f
            )
        },  # fmt: skip
        sandbox + "/shoppers": {
            "post": _operation(
                "createShopper",
                "Create a shopper",
                "Shopper",
                body="CreateShopperRequest",
                body_required=False,
                tag=s,
            )
        },  # fmt: skip
        sandbox + "/batches": {
            "post": _operation(
                "createBatch", "Generate a batch", "Batch", body="CreateBatchRequest", tag=s
            )
        },  # fmt: skip
        sandbox + "/batches/{batch_id}/advance": {
            "post": _operation(
                "advanceBatch",
                "Advance a batch",
                "Batch",
                body="AdvanceRequest",
                body_required=False,
                params=[_path("batch_id", integer)],
                tag=s,
            )
        },  # fmt: skip
        items: {
            "post": _operation(
                "addItem",
                "Shopper adds an item",
                "Success",
                body="AddItemRequest",
                params=[_path("shopper_id", integer), order],
                tag=s,
            )
        },  # fmt: skip
        items + "/{line_num}": {
            "put": _operation(
                "updateItem",
                "Shopper updates an item",
                "Success",
                body="UpdateItemRequest",
                params=[_path("shopper_id", integer), order, _path("line_num")],
                tag=s,
            )
        },  # fmt: skip
        sandbox + "/orders/{order_id}/callbacks": {
            "post": _operation(
                "createCallback",
                "Simulate a callback",
                "Success",
                body="CallbackRequest",
                params=[order],
                tag=s,
            )
        },  # fmt: skip
        "/v2/post_checkout/orders/{order_id}": {
            "get": _operation(
                "getOrderStatus", "Get the order's status", "OrderStatus", params=[order], tag=p
            )
        },  # fmt: skip
        "/v2/post_checkout/chat/{order_id}/messages": {
            "get": _operation(
                "listMessages",
                "The whole conversation, oldest first",
                "Conversation",
                params=chat,
                tag=p,
            ),
            "post": _operation(
                "createMessage",
                "Send a message to the shopper",
                "SentMessage",
                body="SendMessageRequest",
                params=chat,
                tag=p,
            ),
            "put": _operation(
                "markMessagesRead",
                "Mark the shopper's messages read",
                "MessagesRead",
                params=chat,
                tag=p,
            ),
        },  # fmt: skip
    }


def _emulator_paths() -> dict[str, Schema]:
    def op(summary: str, body: Schema | None = None) -> Schema:
        operation: Schema = {
            "summary": summary,
            "tags": ["emulator"],
            "security": [],
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": {}}}},
                "400": _error("400"),
                "403": _error("403"),
                "404": _error("404"),
            },
        }
        if body is not None:
            operation["requestBody"] = {"content": {"application/json": {"schema": body}}}
        return operation

    order = "/_emulator/orders/{order_id}"
    return {
        "/_emulator/health": {"get": op("Health: status ok, version, seed, clock, shopper")},
        "/_emulator/reset": {
            "post": op("Clear all state and faults; back to the start seed and clock")
        },  # fmt: skip
        "/_emulator/seed": {
            "post": op("Restart the id sequence", _obj({"seed": _int()}, ["seed"]))
        },  # fmt: skip
        "/_emulator/clock": {
            "get": op("The clock: now, frozen, next scripted-shopper action"),
            "post": op(
                "Set, advance or unfreeze the clock (one field)",
                _obj(
                    {
                        "now": TIME,
                        "advance_seconds": {"type": "number", "minimum": 0},
                        "real": {"type": "boolean", "enum": [True]},
                    }
                ),
            ),
        },  # fmt: skip
        order: {"get": op("The ids a real server keeps to itself (internal id, batch)")},
        order + "/shopper_messages": {
            "post": op(
                "Post a message as the order's shopper",
                _obj({"body": _str(maxLength=1000), "image_url": _str()}),
            )
        },  # fmt: skip
        order + "/shopper_information_removal": {
            "post": op(
                "Switch shopper information removal (GET chat answers 403)",
                _obj({"enabled": {"type": "boolean"}}, ["enabled"]),
            )
        },  # fmt: skip
        "/_emulator/faults": {
            "get": op("The active fault rules"),
            "post": op(
                "Add a fault rule",
                _obj(
                    {
                        "method": _str(),
                        "path": _str(),
                        "status": _int(minimum=400, maximum=599),
                        "retry_after": _int(minimum=0),
                        "latency_ms": _int(minimum=0, maximum=60000),
                        "drop": {"type": "boolean"},
                        "probability": {"type": "number", "minimum": 0, "maximum": 1},
                        "times": _int(minimum=1),
                    }
                ),
            ),
            "delete": op("Remove every fault rule"),
        },  # fmt: skip
        "/_emulator/faults/{fault_id}": {"delete": op("Remove one fault rule")},
        "/_emulator/shopper": {
            "get": op("The scripted shopper: enabled, reply_delay, script"),
            "put": op(
                "Switch the scripted shopper, replace its script (validated), delay",
                _obj(
                    {
                        "enabled": {"type": "boolean"},
                        "script": {"type": "object"},
                        "reply_delay": {"type": "number", "minimum": 0},
                    }
                ),
            ),
        },  # fmt: skip
        "/_emulator/images/{name}": {"get": op("The scripted shopper's pictures (SVG)")},
    }


_DOCUMENT: Schema = {
    "openapi": "3.0.3",
    "info": {
        "title": "shopper-chat development server (Instacart Connect subset)",
        "version": "0.1.0",
        "description": "The Connect routes of the shopper-customer chat tutorial, as the local "
        "development server answers them. Every error uses the documented envelope. "
        "The development server's control plane is listed apart under `x-emulator`.",
    },
    "servers": [{"url": "/"}],
    "security": [{"bearer": []}],
    "tags": [
        {"name": "auth"},
        {"name": "fulfillment"},
        {"name": "sandbox"},
        {"name": "post_checkout"},
    ],
    "paths": _paths(),
    "components": {
        "schemas": SCHEMAS,
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    },
    "x-emulator": {
        "description": "Control plane of the development server (not part of Connect).",
        "paths": _emulator_paths(),
    },
}


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.0 document of the Connect routes (a fresh copy)."""
    return copy.deepcopy(_DOCUMENT)
