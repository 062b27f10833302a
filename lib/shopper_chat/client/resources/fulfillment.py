"""`client.fulfillment`: users, delivery slots and orders (the retailer's token)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shopper_chat.client._validate import check, check_id, check_number_id, segment
from shopper_chat.client.resources._base import Resource
from shopper_chat.contract import (
    CreateOrderRequest,
    CreateUserRequest,
    DeliveryOptionsRequest,
    Order,
    ServiceOption,
    ServiceOptionHold,
    ServiceOptionHoldResponse,
    ServiceOptions,
    User,
)

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
        sent = check(CreateUserRequest, user_id=user_id, first_name=first_name,
                     last_name=last_name, phone_number=phone_number, locale=locale)
        return self._retailer("POST", "/v2/fulfillment/users", User, body=sent,
                              idempotent=False)

    def delivery_options(
        self, user_id: str, address: Mapping[str, Any], items: Sequence[Mapping[str, Any]]
    ) -> list[ServiceOption]:
        """`POST /v2/fulfillment/users/{user_id}/service_options/cart/delivery`: delivery slots
        for the customer's cart."""
        uid = check_id("user_id", user_id)
        sent = check(DeliveryOptionsRequest, address=address, items=items)
        path = f"/v2/fulfillment/users/{segment(uid)}/service_options/cart/delivery"
        # Listing slots changes nothing: safe to retry.
        return list(self._retailer("POST", path, ServiceOptions, body=sent,
                                   idempotent=True).service_options)

    def reserve(self, user_id: str, service_option_id: int) -> ServiceOptionHold:
        """`POST .../service_options/{service_option_id}/reserve`: hold a slot for 10 minutes
        (replacing the user's previous hold)."""
        uid = check_id("user_id", user_id)
        option = check_number_id("service_option_id", service_option_id)
        path = f"/v2/fulfillment/users/{segment(uid)}/service_options/{option}/reserve"
        # A new reservation replaces the previous one, so trying again is harmless.
        return self._retailer("POST", path, ServiceOptionHoldResponse,
                              idempotent=True).service_option_hold

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
        uid = check_id("user_id", user_id)
        sent = check(CreateOrderRequest, order_id=order_id,
                     service_option_hold_id=service_option_hold_id,
                     initial_tip_cents=initial_tip_cents, address=address, items=items,
                     special_instructions=special_instructions, leave_unattended=leave_unattended)
        path = f"/v2/fulfillment/users/{segment(uid)}/orders/delivery"
        return self._retailer("POST", path, Order, body=sent, idempotent=False)

    def get_order(self, user_id: str, order_id: str) -> Order:
        """`GET /v2/fulfillment/users/{user_id}/orders/{order_id}`."""
        uid = check_id("user_id", user_id)
        oid = check_id("order_id", order_id)
        path = f"/v2/fulfillment/users/{segment(uid)}/orders/{segment(oid)}"
        return self._retailer("GET", path, Order, idempotent=True)
