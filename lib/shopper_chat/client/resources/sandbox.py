"""`client.sandbox`: the Sandbox API that plays the shopper's side (the retailer's token)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shopper_chat.client._parse import parse
from shopper_chat.client._validate import (
    check,
    check_id,
    check_number_id,
    check_text,
    segment,
)
from shopper_chat.client.errors import InvalidTypeError, ResponseShapeError
from shopper_chat.client.resources._base import Resource
from shopper_chat.contract import (
    AddItemRequest,
    AdvanceBatchRequest,
    Batch,
    BatchType,
    BatchWorkflowState,
    CreateBatchRequest,
    ItemStatus,
    SandboxCallbackEvent,
    SandboxCallbackRequest,
    Shopper,
    Success,
    UpdateItemRequest,
)

__all__ = ["Sandbox"]


def _success(data: Any) -> None:
    if not parse(Success, data).success:
        raise ResponseShapeError("success", "expected true, got false")


class Sandbox(Resource):
    """Simulated shopping: shoppers, batches, workflow states, item updates and callbacks."""

    def create_shopper(
        self, email: str | None = None, phone: str | None = None, password: str | None = None
    ) -> Shopper:
        """`POST /v2/fulfillment_sandbox/shoppers`: a fictitious shopper (`.id`)."""
        # Only the types are checked here: whether an email or a phone number is acceptable is
        # the Sandbox's to say (its documented "Invalid email", "Invalid phone number").
        sent = {name: value for name, value in (("email", check_text("email", email)),
                                                ("phone", check_text("phone", phone)),
                                                ("password", check_text("password", password)))
                if value is not None}
        path = "/v2/fulfillment_sandbox/shoppers"
        return self._retailer("POST", path, Shopper, body=sent, idempotent=False)

    def create_batch(
        self,
        shopper_id: int,
        orders: Sequence[str | tuple[str, str]],
        batch_type: BatchType = "delivery",
        workflow_state: BatchWorkflowState | None = None,
    ) -> Batch:
        """`POST /v2/fulfillment_sandbox/batches`: a batch of orders for the shopper.

        `orders`: order ids, or `(order_id, user_id)` pairs (the user id makes it faster).
        """
        if isinstance(orders, (str, bytes)) or not isinstance(orders, Sequence):
            raise InvalidTypeError("orders must be a list of order ids or (order_id, user_id)",
                                   param="orders")
        listed = [{"id": entry[0], "user_id": entry[1]}
                  if isinstance(entry, tuple) and len(entry) == 2 else {"id": entry}
                  for entry in orders]
        sent = check(CreateBatchRequest, batch_type=batch_type, shopper_id=shopper_id,
                     orders=listed, workflow_state=workflow_state)
        path = "/v2/fulfillment_sandbox/batches"
        return self._retailer("POST", path, Batch, body=sent, idempotent=False)

    def advance(self, batch_id: int, workflow_state: BatchWorkflowState | None = None) -> Batch:
        """`POST /v2/fulfillment_sandbox/batches/{batch_id}/advance`: to `workflow_state`, or to
        the next state when None."""
        bid = check_number_id("batch_id", batch_id)
        sent = check(AdvanceBatchRequest, workflow_state=workflow_state)
        path = f"/v2/fulfillment_sandbox/batches/{bid}/advance"
        return self._retailer("POST", path, Batch, body=sent, idempotent=False)

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
        sid = check_number_id("shopper_id", shopper_id)
        oid = check_id("order_id", order_id)
        sent = check(AddItemRequest, item=item, count=count, weight=weight, line_num=line_num)
        path = f"/v2/fulfillment_sandbox/shoppers/{sid}/orders/{segment(oid)}/items"
        return self._retailer("POST", path, _success, body=sent, idempotent=False)

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
        sid = check_number_id("shopper_id", shopper_id)
        oid = check_id("order_id", order_id)
        if isinstance(line_num, bool) or not isinstance(line_num, (str, int)):
            raise InvalidTypeError("line_num must be a str or int", param="line_num")
        if isinstance(line_num, str):
            check_id("line_num", line_num)
        sent = check(UpdateItemRequest, status=status, delivered_count=delivered_count,
                     replacement_item=replacement_item)
        path = (f"/v2/fulfillment_sandbox/shoppers/{sid}/orders/{segment(oid)}/items/"
                f"{segment(line_num)}")
        return self._retailer("PUT", path, _success, body=sent, idempotent=True)

    def callback(self, order_id: str, event_name: SandboxCallbackEvent) -> None:
        """`POST /v2/fulfillment_sandbox/orders/{order_id}/callbacks`: simulate an event
        (`canceled` cancels the order)."""
        oid = check_id("order_id", order_id)
        sent = check(SandboxCallbackRequest, event_name=event_name)
        path = f"/v2/fulfillment_sandbox/orders/{segment(oid)}/callbacks"
        return self._retailer("POST", path, _success, body=sent, idempotent=False)
