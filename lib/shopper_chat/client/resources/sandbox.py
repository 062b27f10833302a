"""`client.sandbox`: the Sandbox API that plays the shopper's side (the retailer's token)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, get_args

from shopper_chat.client._models import BATCH_WORKFLOW_STATES, Batch, Shopper, _Reader
from shopper_chat.client._validate import (
    check_choice,
    check_int_id,
    check_optional_str,
    check_str_id,
    segment,
)
from shopper_chat.client.errors import InvalidRequestError, InvalidTypeError, ResponseShapeError
from shopper_chat.client.resources._base import Resource

__all__ = ["BatchType", "CallbackEvent", "ItemStatus", "Sandbox"]

BatchType = Literal["delivery", "pickup", "delivery_only", "runner_customer"]
ItemStatus = Literal["found", "replaced", "to_refund", "not_found"]
CallbackEvent = Literal["canceled", "rescheduled", "late_delivery"]


def _success(data: Any) -> None:
    if _Reader(data).boolean("success") is not True:
        raise ResponseShapeError("success", "expected true, got false")


class Sandbox(Resource):
    """Simulated shopping: shoppers, batches, workflow states, item updates and callbacks."""

    def create_shopper(
        self, email: str | None = None, phone: str | None = None, password: str | None = None
    ) -> Shopper:
        """`POST /v2/fulfillment_sandbox/shoppers`: a fictitious shopper (`.id`)."""
        body: dict[str, Any] = {}
        for name, value in (("email", email), ("phone", phone), ("password", password)):
            if check_optional_str(name, value) is not None:
                body[name] = value
        path = "/v2/fulfillment_sandbox/shoppers"
        return self._retailer("POST", path, Shopper.from_api, body=body, idempotent=False)

    def create_batch(
        self,
        shopper_id: int,
        orders: Sequence[str | tuple[str, str]],
        batch_type: BatchType = "delivery",
        workflow_state: str | None = None,
    ) -> Batch:
        """`POST /v2/fulfillment_sandbox/batches`: a batch of orders for the shopper.

        `orders`: order ids, or `(order_id, user_id)` pairs (the user id makes it faster).
        """
        if isinstance(orders, (str, bytes)) or not isinstance(orders, Sequence):
            raise InvalidTypeError("orders must be a list of order ids or (order_id, user_id)",
                                   param="orders")
        if not orders:
            raise InvalidRequestError("orders can't be blank", param="orders")
        listed: list[dict[str, str]] = []
        for i, entry in enumerate(orders):
            if isinstance(entry, tuple) and len(entry) == 2:
                listed.append({"id": check_str_id(f"orders[{i}]", entry[0]),
                               "user_id": check_str_id(f"orders[{i}].user_id", entry[1])})
            else:
                listed.append({"id": check_str_id(f"orders[{i}]", entry)})
        body: dict[str, Any] = {
            "batch_type": check_choice("batch_type", batch_type, get_args(BatchType)),
            "shopper_id": check_int_id("shopper_id", shopper_id),
            "orders": listed,
        }
        if workflow_state is not None:
            body["workflow_state"] = check_choice("workflow_state", workflow_state,
                                                  BATCH_WORKFLOW_STATES)
        path = "/v2/fulfillment_sandbox/batches"
        return self._retailer("POST", path, Batch.from_api, body=body, idempotent=False)

    def advance(self, batch_id: int, workflow_state: str | None = None) -> Batch:
        """`POST /v2/fulfillment_sandbox/batches/{batch_id}/advance`: to `workflow_state`, or to
        the next state when None."""
        bid = check_int_id("batch_id", batch_id)
        body: dict[str, Any] = {}
        if workflow_state is not None:
            body["workflow_state"] = check_choice("workflow_state", workflow_state,
                                                  BATCH_WORKFLOW_STATES)
        path = f"/v2/fulfillment_sandbox/batches/{bid}/advance"
        return self._retailer("POST", path, Batch.from_api, body=body, idempotent=False)

    def add_item(
        self,
        shopper_id: int,
        order_id: str,
        item: Mapping[str, Any],
        *,
        count: int | None = None,
        weight: float | None = None,
        line_num: str | None = None,
    ) -> None:
        """`POST /v2/fulfillment_sandbox/shoppers/{shopper_id}/orders/{order_id}/items`: the
        shopper adds an item (`item`: `{"upc": ...}` or `{"rrc": ...}`)."""
        sid = check_int_id("shopper_id", shopper_id)
        oid = check_str_id("order_id", order_id)
        if not isinstance(item, Mapping) or not item:
            raise InvalidTypeError("item must be a mapping such as {'upc': '...'}", param="item")
        body: dict[str, Any] = {"item": dict(item)}
        if count is not None:
            body["count"] = count
        if weight is not None:
            body["weight"] = weight
        if line_num is not None:
            body["line_num"] = check_str_id("line_num", line_num)
        path = f"/v2/fulfillment_sandbox/shoppers/{sid}/orders/{segment(oid)}/items"
        return self._retailer("POST", path, _success, body=body, idempotent=False)

    def update_item(
        self,
        shopper_id: int,
        order_id: str,
        line_num: str | int,
        status: ItemStatus,
        *,
        delivered_count: int | None = None,
        replacement_item: Mapping[str, Any] | None = None,
    ) -> None:
        """`PUT .../shoppers/{shopper_id}/orders/{order_id}/items/{line_num}`: found, replaced
        (with `replacement_item`), to_refund or not_found."""
        sid = check_int_id("shopper_id", shopper_id)
        oid = check_str_id("order_id", order_id)
        if isinstance(line_num, bool) or not isinstance(line_num, (str, int)):
            raise InvalidTypeError("line_num must be a str or int", param="line_num")
        if isinstance(line_num, str):
            check_str_id("line_num", line_num)
        body: dict[str, Any] = {"status": check_choice("status", status, get_args(ItemStatus))}
        if status == "replaced" and replacement_item is None:
            raise InvalidRequestError("a replaced item needs replacement_item",
                                      param="replacement_item")
        if replacement_item is not None:
            if not isinstance(replacement_item, Mapping):
                raise InvalidTypeError("replacement_item must be a mapping",
                                       param="replacement_item")
            body["replacement_item"] = dict(replacement_item)
        if delivered_count is not None:
            if isinstance(delivered_count, bool) or not isinstance(delivered_count, int):
                raise InvalidTypeError("delivered_count must be an int", param="delivered_count")
            body["delivered_count"] = delivered_count
        path = (f"/v2/fulfillment_sandbox/shoppers/{sid}/orders/{segment(oid)}/items/"
                f"{segment(line_num)}")
        return self._retailer("PUT", path, _success, body=body, idempotent=True)

    def callback(self, order_id: str, event_name: CallbackEvent) -> None:
        """`POST /v2/fulfillment_sandbox/orders/{order_id}/callbacks`: simulate an event
        (`canceled` cancels the order)."""
        oid = check_str_id("order_id", order_id)
        body = {"event_name": check_choice("event_name", event_name, get_args(CallbackEvent))}
        path = f"/v2/fulfillment_sandbox/orders/{segment(oid)}/callbacks"
        return self._retailer("POST", path, _success, body=body, idempotent=False)
