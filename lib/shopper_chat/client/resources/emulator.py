"""`client.emulator`: the development server's control plane (`/_emulator/`, no token).

Never part of Connect: a real Instacart development server answers these paths with 404. The
workbench uses them to choose what the scripted shopper does on an order (its scenario) and to
speak as the shopper (the role-play panel); answers are the control plane's JSON as it is, except
a shopper message, which is the contract's `ChatMessage`.
"""

from __future__ import annotations

from typing import Any

from shopper_chat.client._parse import parse
from shopper_chat.client._validate import check, check_id, segment
from shopper_chat.client.resources._base import Resource
from shopper_chat.contract import ChatMessage, MessageRequest

__all__ = ["Emulator"]


def _json(data: Any) -> dict[str, Any]:
    return dict(data) if isinstance(data, dict) else {"value": data}


class Emulator(Resource):
    """The development server's control plane: scenarios, the order's inside view, the shopper."""

    def _control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._client._call(method, path, _json, auth=None, json_body=body,
                                  idempotent=method in ("GET", "PUT"))  # fmt: skip

    def scenarios(self) -> dict[str, Any]:
        """`GET /_emulator/scenarios`: `default`, and `scenarios` (name, summary, customer, ...)."""
        return dict(self._control("GET", "/_emulator/scenarios"))

    def order(self, order_id: str) -> dict[str, Any]:
        """`GET /_emulator/orders/{order_id}`: the ids a real server keeps to itself, the
        scenario and its state, and the items with their status."""
        oid = check_id("order_id", order_id)
        return dict(self._control("GET", f"/_emulator/orders/{segment(oid)}"))

    def set_scenario(self, order_id: str, name: str) -> dict[str, Any]:
        """`PUT /_emulator/orders/{order_id}/scenario`: the scenario the scripted shopper follows
        on this order from now on (`off`: a person plays the shopper)."""
        oid = check_id("order_id", order_id)
        scenario = check_id("name", name)
        path = f"/_emulator/orders/{segment(oid)}/scenario"
        return dict(self._control("PUT", path, {"name": scenario}))

    def send_as_shopper(self, order_id: str, body: str | None = None,
                        image_url: str | None = None, *,
                        read_customer_messages: bool = True) -> ChatMessage:  # fmt: skip
        """`POST /_emulator/orders/{order_id}/shopper_messages`: a message as the order's shopper
        (checked like a customer's: text, an http(s) image URL, or both). By default the shopper
        has read the customer's messages it answers, as the scripted shopper has."""
        oid = check_id("order_id", order_id)
        sent = check(MessageRequest, body=body, image_url=image_url)
        sent["read_customer_messages"] = bool(read_customer_messages)
        path = f"/_emulator/orders/{segment(oid)}/shopper_messages"
        return self._client._call("POST", path, lambda data: parse(ChatMessage, data), auth=None,
                                  json_body=sent, idempotent=False)  # fmt: skip
