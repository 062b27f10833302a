"""`client.orders`: the order status the order status page polls (the customer's token)."""

from __future__ import annotations

from shopper_chat.client._models import OrderStatus
from shopper_chat.client._validate import check_str_id, segment
from shopper_chat.client.resources._base import Resource

__all__ = ["Orders"]


class Orders(Resource):
    """The post-checkout order API."""

    def get(self, order_id: str, *, max_retries: int | None = None) -> OrderStatus:
        """`GET /v2/post_checkout/orders/{order_id}`: `.workflow_state` follows the batch."""
        oid = check_str_id("order_id", order_id)
        path = f"/v2/post_checkout/orders/{segment(oid)}"
        data = self._client._call("GET", path, auth=self._client._user_auth(), idempotent=True,
                                  max_retries=max_retries)
        result: OrderStatus = self._client._parse(OrderStatus.from_api, data, "GET", path)
        return result
