"""`client.fulfillment`: users, delivery slots and orders (the retailer's token)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shopper_chat.client._models import Order, ServiceOption, ServiceOptionHold, User
from shopper_chat.client._validate import (
    check_address,
    check_int_id,
    check_items,
    check_optional_str,
    check_str_id,
    segment,
)
from shopper_chat.client.errors import InvalidRequestError, InvalidTypeError
from shopper_chat.client.resources._base import Resource

__all__ = ["Fulfillment"]


class Fulfillment(Resource):
    """The Fulfillment API: what must exist before the chat tutorial (a user and an order)."""

    def create_user(
        self,
        user_id: str,
        first_name: str,
        last_name: str | None = None,
        phone_number: str | None = None,
        locale: str | None = None,
    ) -> User:
        """`POST /v2/fulfillment/users`: create the customer (the retailer's user id)."""
        body: dict[str, Any] = {
            "user_id": check_str_id("user_id", user_id),
            "first_name": check_str_id("first_name", first_name),
        }
        for name, value in (("last_name", last_name), ("phone_number", phone_number),
                            ("locale", locale)):
            if check_optional_str(name, value) is not None:
                body[name] = value
        path = "/v2/fulfillment/users"
        return self._retailer("POST", path, User.from_api, body=body, idempotent=False)

    def delivery_options(
        self, user_id: str, address: Mapping[str, Any], items: Sequence[Mapping[str, Any]]
    ) -> list[ServiceOption]:
        """`POST /v2/fulfillment/users/{user_id}/service_options/cart/delivery`: delivery slots
        for the customer's cart."""
        uid = check_str_id("user_id", user_id)
        body = {"address": check_address(address), "items": check_items(items)}
        path = f"/v2/fulfillment/users/{segment(uid)}/service_options/cart/delivery"
        # Listing slots changes nothing: safe to retry.
        return self._retailer("POST", path, ServiceOption.list_from_api, body=body, idempotent=True)

    def reserve(self, user_id: str, service_option_id: int) -> ServiceOptionHold:
        """`POST .../service_options/{service_option_id}/reserve`: hold a slot for 10 minutes
        (replacing the user's previous hold)."""
        uid = check_str_id("user_id", user_id)
        option = check_int_id("service_option_id", service_option_id)
        path = f"/v2/fulfillment/users/{segment(uid)}/service_options/{option}/reserve"
        # A new reservation replaces the previous one, so trying again is harmless.
        return self._retailer("POST", path, ServiceOptionHold.from_api, idempotent=True)

    def create_delivery_order(
        self,
        user_id: str,
        order_id: str,
        service_option_hold_id: int,
        address: Mapping[str, Any],
        items: Sequence[Mapping[str, Any]],
        initial_tip_cents: int = 0,
        special_instructions: str | None = None,
        leave_unattended: bool | None = None,
    ) -> Order:
        """`POST /v2/fulfillment/users/{user_id}/orders/delivery`: the new order (`brand_new`)."""
        uid = check_str_id("user_id", user_id)
        if isinstance(initial_tip_cents, bool) or not isinstance(initial_tip_cents, int):
            raise InvalidTypeError(
                f"initial_tip_cents must be an int, got {type(initial_tip_cents).__name__}",
                param="initial_tip_cents",
            )
        if initial_tip_cents < 0:
            raise InvalidRequestError("initial_tip_cents must be >= 0", param="initial_tip_cents")
        body: dict[str, Any] = {
            "order_id": check_str_id("order_id", order_id),
            "service_option_hold_id": check_int_id("service_option_hold_id",
                                                   service_option_hold_id),
            "initial_tip_cents": initial_tip_cents,
            "address": check_address(address),
            "items": check_items(items),
        }
        if check_optional_str("special_instructions", special_instructions) is not None:
            body["special_instructions"] = special_instructions
        if leave_unattended is not None:
            if not isinstance(leave_unattended, bool):
                raise InvalidTypeError("leave_unattended must be a bool or None",
                                       param="leave_unattended")
            body["leave_unattended"] = leave_unattended
        path = f"/v2/fulfillment/users/{segment(uid)}/orders/delivery"
        return self._retailer("POST", path, Order.from_api, body=body, idempotent=False)

    def get_order(self, user_id: str, order_id: str) -> Order:
        """`GET /v2/fulfillment/users/{user_id}/orders/{order_id}`."""
        uid = check_str_id("user_id", user_id)
        oid = check_str_id("order_id", order_id)
        path = f"/v2/fulfillment/users/{segment(uid)}/orders/{segment(oid)}"
        return self._retailer("GET", path, Order.from_api, idempotent=True)
