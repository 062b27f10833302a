"""`client.orders`: the order status the order status page polls (the customer's token)."""

from __future__ import annotations

from shopper_chat.client._validate import check_id, segment
from shopper_chat.client.resources._base import Resource
from shopper_chat.contract import OrderStatus

__all__ = ["Orders"]


class Orders(Resource):
    """The post-checkout order API."""

    def get(self, order_id: str, *, max_retries: int | None = None) -> OrderStatus:
        """`GET /v2/post_checkout/orders/{order_id}`: `.workflow_state` follows the batch."""
        path = f"/v2/post_checkout/orders/{segment(check_id('order_id', order_id))}"
        return self._client._call("GET", path, OrderStatus, auth=self._client._user_auth(),
                                  idempotent=True, max_retries=max_retries)
