"""A development server's backend, driven directly (its public seam: `app.state.backend`).

The property tests run thousands of operations; going through the backend object rather than
HTTP keeps them fast. HTTP is covered by the fuzzing and reliability tests.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from shopper_chat import contract
from shopper_chat.devserver import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, create_app
from shopper_chat.devserver.models import Caller, ConnectBackend

CLOCK = "2026-01-15T17:00:00Z"
ADDRESS = {"address_line_1": "100 Main Street", "postal_code": "94105"}
ITEMS = [{"line_num": "1", "count": 2, "item": {"upc": "000000004011"}}]


def new_backend(seed: int = 7, *, shopper: bool = True) -> ConnectBackend:
    """A fresh backend on a frozen clock (nothing is served)."""
    app = create_app(seed=seed, clock=CLOCK, shopper=shopper)
    backend: ConnectBackend = app.state.backend
    return backend


def token(backend: ConnectBackend, user_id: str | None = None) -> Caller:
    """The caller behind a freshly issued token: the retailer's, or a customer's."""
    if user_id is None:
        grant: dict[str, Any] = {"grant_type": "client_credentials", "scope": None,
                                 "assertion": None}
    else:
        assertion = base64.b64encode(json.dumps({"user_id": user_id}).encode()).decode()
        grant = {"grant_type": "fulfillment_user_assertion", "scope": None,
                 "assertion": assertion}
    answer = backend.create_token(client_id=DEFAULT_CLIENT_ID,
                                  client_secret=DEFAULT_CLIENT_SECRET, **grant)
    return backend.authenticate(answer["access_token"])


@dataclass
class Order:
    """An order made through the backend's own operations."""

    user_id: str
    order_id: str
    shopper_id: int
    batch_id: int
    retailer: Caller
    customer: Caller


def order_in_picking(backend: ConnectBackend, user_id: str = "customer-1",
                     order_id: str = "order-1", batch_type: str = "delivery",
                     advance_to: str | None = "picking", batch_state: str | None = None) -> Order:
    """A customer, a delivery order, a shopper and a batch (created in `batch_state`, default
    `acknowledged`, then advanced to `advance_to`)."""
    retailer = token(backend)
    backend.create_user(retailer, contract.CreateUserRequest(user_id=user_id, first_name="Sierra"))
    option = backend.list_delivery_options(retailer, user_id).service_options[0]
    hold = backend.reserve_service_option(retailer, user_id, option.id)
    backend.create_delivery_order(retailer, user_id, contract.CreateOrderRequest.model_validate({
        "order_id": order_id, "service_option_hold_id": hold.service_option_hold.id,
        "initial_tip_cents": 0, "address": ADDRESS, "items": ITEMS,
    }))
    shopper = backend.create_shopper(retailer, contract.CreateShopperRequest())
    batch = backend.create_batch(retailer, contract.CreateBatchRequest.model_validate({
        "batch_type": batch_type, "shopper_id": shopper.id,
        "orders": [{"id": order_id, "user_id": user_id}], "workflow_state": batch_state,
    }))
    if advance_to is not None:
        backend.advance_batch(retailer, batch.id, advance_to)
    return Order(user_id, order_id, shopper.id, batch.id, retailer,
                 token(backend, user_id))
