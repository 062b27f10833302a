"""The tutorial's set-up steps in one call each (used by the notebooks, the panel and tests).

```python
from shopper_chat import connect, tutorial
client = connect()
setup = tutorial.create_order(client)            # a customer, a slot, a hold, a delivery order
shopping = tutorial.start_shopping(client, setup.order_id, setup.user_id)   # now `picking`
client.set_user(setup.user_id)                   # chat calls as that customer
```
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shopper_chat.client._validate import check_id
from shopper_chat.contract import BatchWorkflowState

if TYPE_CHECKING:
    from shopper_chat.client._client import Client

__all__ = ["DEFAULT_ADDRESS", "DEFAULT_ITEMS", "OrderSetup", "Shopping", "create_order",
           "start_shopping"]

DEFAULT_FIRST_NAME = "Sierra"
"""The customer's name in the tutorial's example."""

DEFAULT_ADDRESS: Mapping[str, str] = {
    "address_line_1": "100 Main Street",
    "address_line_2": "Apt 4",
    "postal_code": "94105",
}

DEFAULT_ITEMS: tuple[Mapping[str, Any], ...] = (
    {"line_num": "1", "count": 6, "item": {"upc": "000000004011"}},
    {"line_num": "2", "count": 1, "item": {"upc": "070038000563"}},
    {"line_num": "3", "count": 2, "item": {"upc": "041220576463"}},
)


@dataclass(frozen=True)
class OrderSetup:
    """What `create_order` made: the customer and the delivery order."""

    user_id: str
    order_id: str
    first_name: str
    address: Mapping[str, Any] = field(default_factory=dict)
    items: tuple[Mapping[str, Any], ...] = ()
    service_option_hold_id: int | None = None
    status: str = ""


@dataclass(frozen=True)
class Shopping:
    """What `start_shopping` made: a shopper and the batch holding the order."""

    shopper_id: int
    batch_id: int
    workflow_state: BatchWorkflowState | None


def _new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def create_order(
    client: Client,
    user_id: str | None = None,
    order_id: str | None = None,
    *,
    first_name: str = DEFAULT_FIRST_NAME,
    address: Mapping[str, Any] | None = None,
    items: Sequence[Mapping[str, Any]] | None = None,
) -> OrderSetup:
    """Create a customer, list delivery slots, reserve the first one and create the order.

    `user_id` / `order_id` default to new random ids (`customer-1a2b3c4d`, `order-...`).
    """
    uid = check_id("user_id", user_id) if user_id is not None else _new_id("customer")
    oid = check_id("order_id", order_id) if order_id is not None else _new_id("order")
    where = dict(address if address is not None else DEFAULT_ADDRESS)
    cart = tuple(dict(i) for i in (items if items is not None else DEFAULT_ITEMS))
    client.fulfillment.create_user(uid, first_name)
    options = client.fulfillment.delivery_options(uid, where, cart)
    if not options:
        from shopper_chat.client.errors import ConnectError

        raise ConnectError(f"no delivery slot is offered for postal code {where['postal_code']}")
    hold = client.fulfillment.reserve(uid, options[0].id)
    order = client.fulfillment.create_delivery_order(
        uid, oid, hold.id, where, cart, initial_tip_cents=0
    )
    return OrderSetup(user_id=uid, order_id=oid, first_name=first_name, address=where,
                      items=cart, service_option_hold_id=hold.id, status=order.status)


def start_shopping(
    client: Client, order_id: str, user_id: str | None = None,
    workflow_state: BatchWorkflowState = "picking",
) -> Shopping:
    """Create a shopper, batch the order to them and advance the batch to `picking`."""
    shopper = client.sandbox.create_shopper()
    entry: str | tuple[str, str] = (order_id, user_id) if user_id else order_id
    batch = client.sandbox.create_batch(shopper.id, [entry])
    advanced = client.sandbox.advance(batch.id, workflow_state)
    return Shopping(shopper_id=shopper.id, batch_id=batch.id,
                    workflow_state=advanced.workflow_state)
