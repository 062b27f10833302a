"""The backend: every piece of state and every rule of the development server.

Methods are named after the API operations. Handlers (`responses.py`) parse requests and call
these; the backend raises the errors of `exceptions.py` and never touches HTTP. Each operation
runs in one storage transaction: it commits before the handler answers, and a refused operation
rolls back (including the ids it drew).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import re
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from . import workflow
from .clock import Clock, format_time
from .exceptions import (
    ChatNotAllowed,
    Forbidden,
    InvalidParameter,
    ResourceNotFound,
    Unauthorized,
    UserNotFound,
)
from .faults import Faults
from .ids import IdSource
from .shopper import ShopperScript, render
from .store import Record, Store

__all__ = ["Caller", "ConnectBackend", "TOKEN_LIFETIME", "CHAT_EXPIRY", "HOLD_LIFETIME"]

TOKEN_LIFETIME = 86400
CHAT_EXPIRY = timedelta(hours=24)
HOLD_LIFETIME = timedelta(minutes=10)
MAX_MESSAGE_LENGTH = 1000
PHONE = re.compile(r"\+?[0-9]{10,15}")

T = TypeVar("T")


@dataclass(frozen=True)
class Caller:
    """Who is calling: the retailer (client token) or one customer (user token)."""

    kind: str  # "client" | "user"
    user_id: str | None = None
    scope: str = ""

    @property
    def is_user(self) -> bool:
        """True for a customer's user access token."""
        return self.kind == "user"


def _ts(moment: datetime) -> float:
    return moment.timestamp()


def _iso(ts: float | None) -> str | None:
    return None if ts is None else format_time(datetime.fromtimestamp(ts, timezone.utc))


class MessageView(dict[str, Any]):
    """A message in the API's shape, with its JSON text made once (`.json`); never mutated."""

    json: str


@functools.lru_cache(maxsize=65536)
def _message_view_of(stored: str) -> MessageView:
    # Pollers fetch the same messages again and again; a message's stored text changes whenever
    # the message does (e.g. marked read), so the text is a safe key for its view and its JSON.
    view = MessageView(ConnectBackend.message_view(json.loads(stored)))
    view.json = json.dumps(view, ensure_ascii=False, separators=(",", ":"))
    return view


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ConnectBackend:
    """The state of one development server and the rules of the Connect API it emulates."""

    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        seed: int,
        start: datetime | None,
        script: ShopperScript,
        shopper_enabled: bool,
        reply_delay: float | None,
        client_id: str,
        client_secret: str,
        timezone_name: str = "America/Los_Angeles",
    ) -> None:
        self.store = store
        self.clock = clock
        self.ids = IdSource(seed)
        self.faults = Faults(seed)
        self._initial = (seed, start, script, shopper_enabled, reply_delay)
        self.script = script
        self.shopper_enabled = shopper_enabled and script.enabled
        self.reply_delay = reply_delay
        self.client_id = client_id
        self._client_secret = client_secret
        self.timezone_name = timezone_name
        self.base_url = "http://127.0.0.1"
        self._action_lock = threading.RLock()
        state = store.get_meta("ids")
        if state is not None:
            self.ids.restore(state)  # an existing database keeps its id sequence
        stored = store.get_meta("clock")
        if stored is not None:
            # A restart never moves time backwards past what the database already holds.
            floor = datetime.fromtimestamp(float(stored), timezone.utc)
            if clock.frozen:
                clock.advance_to(floor)
            elif floor > clock.now():
                clock.advance((floor - clock.now()).total_seconds())

    # ------------------------------------------------------------------ plumbing
    @contextmanager
    def _transaction(self) -> Iterator[None]:
        snapshot = self.ids.snapshot()
        try:
            with self.store.transaction():
                yield
                self.store.set_meta("ids", self.ids.snapshot())
                self.store.set_meta("clock", self.now().timestamp())
        except BaseException:
            self.ids.restore(snapshot)
            raise

    def _atomic(self, operation: Callable[[], T]) -> T:
        with self._transaction():
            return operation()

    def now(self) -> datetime:
        """The server's clock."""
        return self.clock.now()

    def _unique_id(self, kind: str) -> int:
        table = {"user": "user_internal", "order": "order_internal"}.get(kind, kind)
        while True:
            candidate = self.ids.new_id(kind)
            if not self.store.exists(table, str(candidate)):
                return candidate

    # ------------------------------------------------------------------ tokens
    def create_token(
        self,
        *,
        client_id: str,
        client_secret: str,
        grant_type: str,
        scope: str | None,
        assertion: str | None,
    ) -> dict[str, Any]:
        """POST /v2/oauth/token."""
        if not (
            secrets.compare_digest(client_id.encode(), self.client_id.encode())
            and secrets.compare_digest(client_secret.encode(), self._client_secret.encode())
        ):
            raise Unauthorized("Invalid client credentials")
        if grant_type == "client_credentials":
            scope = scope or "connect:fulfillment"
            if scope != "connect:fulfillment":
                raise InvalidParameter("is invalid", key="scope")
            record: Record = {"kind": "client", "user_id": None, "scope": scope}
        elif grant_type == "fulfillment_user_assertion":
            scope = scope or "connect:post_checkout"
            if scope != "connect:post_checkout":
                raise InvalidParameter("is invalid", key="scope")
            if not assertion:
                raise InvalidParameter("can't be blank", key="assertion")
            user_id = decode_assertion(assertion)
            if user_id is None:
                raise InvalidParameter("is invalid", key="assertion")
            record = {"kind": "user", "user_id": user_id, "scope": scope}
        else:
            raise InvalidParameter("is invalid", key="grant_type")
        token = secrets.token_urlsafe(32)
        created = int(self.now().timestamp())
        record.update(created_at=created, expires_at=created + TOKEN_LIFETIME)

        def op() -> dict[str, Any]:
            self.store.put("token", _hash(token), record)
            return {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME,
                "scope": scope,
                "created_at": created,
            }

        return self._atomic(op)

    def authenticate(self, token: str | None) -> Caller:
        """The caller behind an access token, or 401."""
        if not token:
            raise Unauthorized("Missing access token")
        record = self.store.get("token", _hash(token))
        if record is None:
            raise Unauthorized("Invalid access token")
        if self.now().timestamp() >= record["expires_at"]:
            raise Unauthorized("Expired access token")
        return Caller(kind=record["kind"], user_id=record["user_id"], scope=record["scope"])

    @staticmethod
    def _retailer_only(caller: Caller) -> None:
        if caller.is_user:
            raise Forbidden("This access token does not allow this request")

    # ------------------------------------------------------------------ fulfillment
    def _user(self, user_id: str) -> Record:
        user = self.store.get("user", user_id)
        if user is None:
            raise UserNotFound(status_code=404)  # the user in the URL is the missing resource
        return user

    @staticmethod
    def _user_view(user: Record) -> dict[str, Any]:
        keys = ("user_id", "first_name", "last_name", "phone_number", "locale")
        return {k: user[k] for k in keys}

    def create_user(self, caller: Caller, fields: dict[str, Any]) -> dict[str, Any]:
        """POST /v2/fulfillment/users (an existing user_id is updated)."""
        self._retailer_only(caller)

        def op() -> dict[str, Any]:
            user = self.store.get("user", fields["user_id"])
            if user is None:
                user = {
                    "user_id": fields["user_id"],
                    "internal_id": self._unique_id("user"),
                    "created_at": _ts(self.now()),
                    "last_name": None,
                    "phone_number": None,
                    "locale": None,
                }
                self.store.put("user_internal", str(user["internal_id"]),
                               {"user_id": fields["user_id"]})  # fmt: skip
            user.update({k: v for k, v in fields.items() if v is not None})
            self.store.put("user", fields["user_id"], user)
            return self._user_view(user)

        return self._atomic(op)

    def _slots(self, count: int = 6) -> list[tuple[datetime, datetime]]:
        now = self.now()
        first = (now + timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
        return [
            (first + timedelta(hours=2 * i), first + timedelta(hours=2 * i + 2))
            for i in range(count)
        ]

    @staticmethod
    def _option_view(option: Record) -> dict[str, Any]:
        return {
            "id": option["id"],
            "service_option_reference": option["service_option_reference"],
            "date": option["date"],
            "window": {
                "start_at": option["start_at"],
                "end_at": option["end_at"],
                "type": "scheduled",
                "asap": False,
            },
            "availability": {"available": True, "reasons": [], "item_codes": []},
        }

    def _new_option(self, start: datetime, end: datetime) -> Record:
        option_id = self._unique_id("service_option")
        return {
            "id": option_id,
            "service_option_reference": f"scheduled-{start:%Y%m%d%H%M}-{option_id}",
            "date": start.strftime("%Y-%m-%d"),
            "start_at": format_time(start),
            "end_at": format_time(end),
        }

    def list_delivery_options(self, caller: Caller, user_id: str) -> dict[str, Any]:
        """POST /v2/fulfillment/users/{user_id}/service_options/cart/delivery."""
        self._retailer_only(caller)

        def op() -> dict[str, Any]:
            self._user(user_id)
            options = []
            for start, end in self._slots():
                option = self._new_option(start, end)
                option["user_id"] = user_id
                self.store.put("service_option", str(option["id"]), option, parent=user_id)
                options.append(self._option_view(option))
            return {"service_options": options}

        return self._atomic(op)

    def preview_delivery_options(self, caller: Caller) -> dict[str, Any]:
        """POST /v2/fulfillment/service_options/delivery (no user: nothing to reserve)."""
        self._retailer_only(caller)

        def op() -> dict[str, Any]:
            options = []
            for start, end in self._slots():
                option = self._new_option(start, end)
                self.store.put("service_option", str(option["id"]), option, parent="")
                options.append(self._option_view(option))
            return {"service_options": options}

        return self._atomic(op)

    def reserve_service_option(
        self, caller: Caller, user_id: str, service_option_id: int
    ) -> dict[str, Any]:
        """POST /v2/fulfillment/users/{user_id}/service_options/{id}/reserve."""
        self._retailer_only(caller)

        def op() -> dict[str, Any]:
            self._user(user_id)
            option = self.store.get("service_option", str(service_option_id))
            if option is None or option.get("user_id") != user_id:
                raise ResourceNotFound()
            for old in self.store.children("hold", user_id):
                self.store.delete("hold", str(old["id"]))
            hold = {
                "id": self._unique_id("hold"),
                "user_id": user_id,
                "expires_at": format_time(self.now() + HOLD_LIFETIME),
                "service_option": self._option_view(option),
            }
            self.store.put("hold", str(hold["id"]), hold, parent=user_id)
            return {"service_option_hold": {k: hold[k] for k in ("id", "expires_at",
                                                                 "service_option")}}  # fmt: skip

        return self._atomic(op)

    def create_delivery_order(
        self, caller: Caller, user_id: str, fields: dict[str, Any]
    ) -> dict[str, Any]:
        """POST /v2/fulfillment/users/{user_id}/orders/delivery."""
        self._retailer_only(caller)

        def op() -> dict[str, Any]:
            user = self._user(user_id)
            if self.store.exists("order", fields["order_id"]):
                raise InvalidParameter("has already been taken", key="order_id")
            hold = self.store.get("hold", str(fields["service_option_hold_id"]))
            if hold is None or hold["user_id"] != user_id:
                raise InvalidParameter("is invalid", key="service_option_hold_id")
            if self.now() >= _parse_iso(hold["expires_at"]):
                raise InvalidParameter("has expired", key="service_option_hold_id")
            self.store.delete("hold", str(hold["id"]))
            window = hold["service_option"]["window"]
            internal = self._unique_id("order")
            order = {
                "order_id": fields["order_id"],
                "internal_id": internal,
                "user_id": user_id,
                "customer_internal_id": user["internal_id"],
                "fulfillment_type": "delivery",
                "created_at": _ts(self.now()),
                "window": {"start_at": window["start_at"], "end_at": window["end_at"]},
                "address": fields["address"],
                "items": fields["items"],
                "initial_tip_cents": fields["initial_tip_cents"],
                "special_instructions": fields.get("special_instructions"),
                "leave_unattended": fields.get("leave_unattended"),
                "locale": user.get("locale"),
                "batch_id": None,
                "delivered_at": None,
                "canceled_at": None,
                "events": [],
                "greeted": False,
                "replacement_sent": False,
                "shopper_information_removal": False,
            }
            if fields.get("user"):
                for key in ("phone_number", "first_name", "last_name"):
                    value = fields["user"].get(key)
                    if value is not None:
                        user[key] = value
                self.store.put("user", user_id, user)
            self._save_order(order)
            return self._order_view(order)

        return self._atomic(op)

    def _save_order(self, order: Record) -> None:
        self.store.put("order", order["order_id"], order, parent=order["user_id"])
        self.store.put("order_internal", str(order["internal_id"]), {"order_id": order["order_id"]})

    def _batch_of(self, order: Record) -> Record | None:
        if order["batch_id"] is None:
            return None
        return self.store.get("batch", str(order["batch_id"]))

    def _order_state(self, order: Record) -> str:
        if order["canceled_at"] is not None:
            return "canceled"
        batch = self._batch_of(order)
        if batch is None:
            return "brand_new"
        return workflow.order_state(batch["workflow_state"])

    def _order_view(self, order: Record) -> dict[str, Any]:
        return {
            "id": order["order_id"],
            "status": self._order_state(order),
            "created_at": _iso(order["created_at"]),
            "fulfillment_type": order["fulfillment_type"],
            "locale": order["locale"],
            "window": order["window"],
            "address": order["address"],
            "items": order["items"],
            "initial_tip_cents": order["initial_tip_cents"],
            "special_instructions": order["special_instructions"],
            "leave_unattended": order["leave_unattended"],
        }

    def get_delivery_order(self, caller: Caller, user_id: str, order_id: str) -> dict[str, Any]:
        """GET /v2/fulfillment/users/{user_id}/orders/{order_id}."""
        self._retailer_only(caller)
        self._user(user_id)
        order = self.store.get("order", order_id)
        if order is None or order["user_id"] != user_id:
            raise ResourceNotFound()
        return self._order_view(order)

    # ------------------------------------------------------------------ sandbox
    def create_shopper(
        self, caller: Caller, email: str | None, phone: str | None, password: str | None
    ) -> dict[str, Any]:
        """POST /v2/fulfillment_sandbox/shoppers."""
        if email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
            raise InvalidParameter("Invalid email", key="email")
        digits = None
        if phone:
            if not PHONE.fullmatch(phone):
                raise InvalidParameter("Invalid phone number", key="phone")
            digits = phone.lstrip("+")

        def op() -> dict[str, Any]:
            if digits is not None and self.store.find("shopper", "phone_digits", digits):
                raise InvalidParameter("An account already exists with this number", key="phone")
            shopper = {
                "id": self._unique_id("shopper"),
                "email": email,
                "phone_digits": digits,
                "created_at": _ts(self.now()),
            }
            self.store.put("shopper", str(shopper["id"]), shopper)
            return {"id": shopper["id"]}

        return self._atomic(op)

    def _visible_order(self, caller: Caller, order_id: str) -> Record | None:
        order = self.store.get("order", order_id)
        if order is None or (caller.is_user and order["user_id"] != caller.user_id):
            return None
        return order

    def create_batch(
        self,
        caller: Caller,
        batch_type: str,
        shopper_id: int,
        orders: list[dict[str, Any]],
        workflow_state: str | None,
    ) -> dict[str, Any]:
        """POST /v2/fulfillment_sandbox/batches."""

        def op() -> dict[str, Any]:
            if self.store.get("shopper", str(shopper_id)) is None:
                raise InvalidParameter("Shopper not found", key="shopper_id")
            found: list[Record] = []
            for index, entry in enumerate(orders, start=1):
                key = f"orders[{index}]"
                order = self._visible_order(caller, entry["id"])
                user_id = entry.get("user_id")
                if order is None or (user_id and user_id != order["user_id"]):
                    raise InvalidParameter("Order not found", key=key)
                if order["batch_id"] is not None or any(
                    o["order_id"] == order["order_id"] for o in found
                ):
                    raise InvalidParameter("Order has already been batched", key=key)
                if order["canceled_at"] is not None:
                    raise InvalidParameter("Order cannot be batched: it is canceled", key=key)
                found.append(order)
            try:
                state = workflow.initial_state(batch_type, workflow_state)
            except workflow.IllegalMove as exc:
                raise InvalidParameter(str(exc), key="workflow_state") from None
            batch = {
                "id": self._unique_id("batch"),
                "batch_type": batch_type,
                "shopper_id": shopper_id,
                "order_ids": [o["order_id"] for o in found],
                "workflow_state": state.value,
                "created_at": _ts(self.now()),
            }
            self.store.put("batch", str(batch["id"]), batch)
            for order in found:
                order["batch_id"] = batch["id"]
                self._save_order(order)
            self._batch_moved(batch)
            return {"id": batch["id"], "workflow_state": batch["workflow_state"]}

        return self._atomic(op)

    def _visible_batch(self, caller: Caller, batch_id: int) -> Record:
        batch = self.store.get("batch", str(batch_id))
        if batch is None:
            raise ResourceNotFound()
        if caller.is_user and not any(
            self._visible_order(caller, oid) for oid in batch["order_ids"]
        ):
            raise ResourceNotFound()
        return batch

    def advance_batch(
        self, caller: Caller, batch_id: int, workflow_state: str | None
    ) -> dict[str, Any]:
        """POST /v2/fulfillment_sandbox/batches/{batch_id}/advance."""

        def op() -> dict[str, Any]:
            batch = self._visible_batch(caller, batch_id)
            try:
                if workflow_state is None:
                    state = workflow.next_state(batch["batch_type"], batch["workflow_state"])
                else:
                    state = workflow.check_move(
                        batch["batch_type"], batch["workflow_state"], workflow_state
                    )
            except workflow.IllegalMove as exc:
                raise InvalidParameter(str(exc), key="workflow_state") from None
            batch["workflow_state"] = state.value
            self.store.put("batch", str(batch["id"]), batch)
            self._batch_moved(batch)
            return {"id": batch["id"], "workflow_state": batch["workflow_state"]}

        return self._atomic(op)

    def _batch_moved(self, batch: Record) -> None:
        """Orders follow their batch: delivery time, and the shopper's greeting."""
        state = batch["workflow_state"]
        for order_id in batch["order_ids"]:
            order = self.store.get("order", order_id)
            if order is None or order["canceled_at"] is not None:
                continue
            if state == workflow.WorkflowState.COMPLETED.value and order["delivered_at"] is None:
                order["delivered_at"] = _ts(self.now())
            shopping = workflow.is_past(
                batch["batch_type"], state, workflow.WorkflowState.PICKING
            ) and state in {s.value for s in workflow.CHAT_OPEN_STATES}
            if shopping and not order["greeted"]:
                order["greeted"] = True
                self._schedule_greeting(order)
            self._save_order(order)

    def _shopper_order(self, caller: Caller, shopper_id: int, order_id: str) -> Record:
        order = self._visible_order(caller, order_id)
        batch = None if order is None else self._batch_of(order)
        if order is None or batch is None or batch["shopper_id"] != shopper_id:
            raise ResourceNotFound()
        return order

    def add_item(
        self, caller: Caller, shopper_id: int, order_id: str, item: dict[str, Any]
    ) -> dict[str, Any]:  # noqa: E501
        """POST /v2/fulfillment_sandbox/shoppers/{shopper_id}/orders/{order_id}/items."""

        def op() -> dict[str, Any]:
            order = self._shopper_order(caller, shopper_id, order_id)
            line_num = item.get("line_num")
            if line_num is None:
                line_num = str(len(order["items"]) + 1)
            if any(str(i.get("line_num")) == line_num for i in order["items"]):
                raise InvalidParameter("has already been taken", key="line_num")
            order["items"].append({**item, "line_num": line_num, "added_by_shopper": True})
            self._save_order(order)
            return {"success": True}

        return self._atomic(op)

    def update_item(
        self, caller: Caller, shopper_id: int, order_id: str, line_num: str, changes: dict[str, Any]
    ) -> dict[str, Any]:
        """PUT /v2/fulfillment_sandbox/shoppers/{shopper_id}/orders/{order_id}/items/{line_num}."""

        def op() -> dict[str, Any]:
            order = self._shopper_order(caller, shopper_id, order_id)
            for item in order["items"]:
                if str(item.get("line_num")) == line_num:
                    item.update({k: v for k, v in changes.items() if v is not None})
                    self._save_order(order)
                    return {"success": True}
            raise ResourceNotFound()

        return self._atomic(op)

    def create_callback(self, caller: Caller, order_id: str, event_name: str) -> dict[str, Any]:
        """POST /v2/fulfillment_sandbox/orders/{order_id}/callbacks."""

        def op() -> dict[str, Any]:
            order = self._visible_order(caller, order_id)
            if order is None:
                raise ResourceNotFound()
            state = self._order_state(order)
            if event_name == "canceled":
                if state in ("delivered", "canceled", "staged"):
                    raise InvalidParameter(f"cannot cancel an order that is {state}",
                                           key="event_name")  # fmt: skip
                order["canceled_at"] = _ts(self.now())
                self._drop_actions(order["internal_id"])
            elif event_name == "rescheduled":
                window = order["window"]
                order["window"] = {
                    key: format_time(_parse_iso(window[key]) + timedelta(days=1))
                    for key in ("start_at", "end_at")
                }
            order["events"].append({"event_name": event_name, "at": _ts(self.now())})
            self._save_order(order)
            return {"success": True}

        return self._atomic(op)

    # ------------------------------------------------------------------ post-checkout
    def _chat_order(self, caller: Caller, order_ref: str, internal: bool) -> Record:
        if internal:
            pointer = self.store.get("order_internal", order_ref) if order_ref.isdigit() else None
            order_ref = "" if pointer is None else pointer["order_id"]
        order = self._visible_order(caller, order_ref) if order_ref else None
        if order is None:
            raise ResourceNotFound()
        return order

    def check_chat_order(self, caller: Caller, order_ref: str, internal: bool) -> None:
        """404/4000 unless the caller may see this order."""
        self._chat_order(caller, order_ref, internal)

    def get_order_status(self, caller: Caller, order_id: str) -> dict[str, Any]:
        """GET /v2/post_checkout/orders/{order_id}."""
        order = self._chat_order(caller, order_id, internal=False)
        return {
            "id": order["order_id"],
            "workflow_state": self._order_state(order),
            "fulfillment_type": order["fulfillment_type"],
            "created_at": _iso(order["created_at"]),
            "window": order["window"],
        }

    def _closed_at(self, order: Record) -> float | None:
        closed = order["canceled_at"] if order["canceled_at"] is not None else order["delivered_at"]
        return None if closed is None else float(closed)

    def _is_expired(self, order: Record) -> bool:
        closed = self._closed_at(order)
        return closed is not None and self.now().timestamp() >= closed + CHAT_EXPIRY.total_seconds()

    def _chat_open(self, order: Record) -> bool:
        batch = self._batch_of(order)
        if batch is None or order["canceled_at"] is not None:
            return False
        return workflow.WorkflowState(batch["workflow_state"]) in workflow.CHAT_OPEN_STATES

    @staticmethod
    def message_view(message: Record) -> dict[str, Any]:
        """A stored message in the API's shape."""
        return {
            "id": message["id"],
            "order_id": message["order_id"],
            "created_at": _iso(message["created_at"]),
            "recipient_id": message["recipient_id"],
            "recipient_type": message["recipient_type"],
            "sender_id": message["sender_id"],
            "sender_type": message["sender_type"],
            "read": message["read"],
            "read_at": _iso(message["read_at"]),
            "body": message["body"],
            "image": message["image"],
        }

    def list_messages(self, caller: Caller, order_ref: str, internal: bool) -> dict[str, Any]:
        """GET /v2/post_checkout/chat/{order_id}/messages."""
        order = self._chat_order(caller, order_ref, internal)
        if order["shopper_information_removal"]:
            raise Forbidden("Shopper information is not available for this order")
        user = self.store.get("user", order["user_id"]) or {}
        batch = self._batch_of(order)
        shoppers = []
        if batch is not None:
            shoppers.append(
                {
                    "id": batch["shopper_id"],
                    "display_name": self.script.display_name,
                    "avatar_url": self.script.avatar_url,
                }
            )
        expired = self._is_expired(order)
        stored = [] if expired else self.store.children_json("message", str(order["internal_id"]))
        return {
            "chat_messages": [_message_view_of(text) for text in stored],
            "metadata": {
                "customer": {
                    "id": order["customer_internal_id"],
                    "display_name": user.get("first_name", ""),
                },
                "shoppers": shoppers,
                "is_expired": expired,
            },
        }

    def _store_message(self, order: Record, *, from_shopper: bool, body: str, image: str) -> Record:
        batch = self._batch_of(order)
        shopper_id = "" if batch is None else str(batch["shopper_id"])
        customer_id = str(order["customer_internal_id"])
        message = {
            "id": self.ids.new_message_id(),
            "order_id": order["internal_id"],
            "created_at": _ts(self.now()),
            "sender_type": "driver" if from_shopper else "user",
            "sender_id": shopper_id if from_shopper else customer_id,
            "recipient_type": "user" if from_shopper else "driver",
            "recipient_id": customer_id if from_shopper else shopper_id,
            "read": False,
            "read_at": None,
            "body": body,
            "image": image,
        }
        self.store.put(
            "message", str(message["id"]), message, parent=str(order["internal_id"]),
            seq=message["id"],
        )  # fmt: skip
        return message

    def create_message(
        self, caller: Caller, order_ref: str, internal: bool, body: str, image_url: str
    ) -> dict[str, Any]:
        """POST /v2/post_checkout/chat/{order_id}/messages (body/image already validated)."""

        def op() -> dict[str, Any]:
            order = self._chat_order(caller, order_ref, internal)
            if not self._chat_open(order):
                raise ChatNotAllowed()
            message = self._store_message(order, from_shopper=False, body=body, image=image_url)
            self._schedule_reply(order, message)
            return {
                "id": message["id"],
                "type": "CHAT",
                "created_at": _iso(message["created_at"]),
                "timezone": self.timezone_name,
            }

        return self._atomic(op)

    def mark_messages_read(self, caller: Caller, order_ref: str, internal: bool) -> dict[str, Any]:
        """PUT /v2/post_checkout/chat/{order_id}/messages."""

        def op() -> dict[str, Any]:
            if caller.is_user and self.store.get("user", caller.user_id or "") is None:
                raise UserNotFound()
            order = self._chat_order(caller, order_ref, internal)
            count = 0
            now = _ts(self.now())
            for message in self.store.children("message", str(order["internal_id"])):
                if message["sender_type"] == "driver" and not message["read"]:
                    message.update(read=True, read_at=now)
                    self.store.put("message", str(message["id"]), message,
                                   parent=str(order["internal_id"]), seq=message["id"])  # fmt: skip
                    count += 1
            return {"messages_read_count": count}

        return self._atomic(op)

    # ------------------------------------------------------------------ the shopper's side
    def post_shopper_message(self, order_id: str, body: str, image_url: str) -> dict[str, Any]:
        """POST /_emulator/orders/{order_id}/shopper_messages: a message as the order's shopper."""

        def op() -> dict[str, Any]:
            order = self.store.get("order", order_id)
            if order is None:
                raise ResourceNotFound()
            if self._batch_of(order) is None:
                raise Forbidden("The order has no shopper yet: create a batch for it first")
            if not self._chat_open(order):
                raise ChatNotAllowed()
            message = self._store_message(order, from_shopper=True, body=body, image=image_url)
            return self.message_view(message)

        return self._atomic(op)

    def order_debug_view(self, order_id: str) -> dict[str, Any]:
        """GET /_emulator/orders/{order_id}: the ids a real server keeps to itself."""
        order = self.store.get("order", order_id)
        if order is None:
            raise ResourceNotFound()
        batch = self._batch_of(order)
        return {
            "order_id": order["order_id"],
            "internal_id": order["internal_id"],
            "user_id": order["user_id"],
            "customer_internal_id": order["customer_internal_id"],
            "batch_id": order["batch_id"],
            "shopper_id": None if batch is None else batch["shopper_id"],
            "workflow_state": self._order_state(order),
            "delivered_at": _iso(order["delivered_at"]),
            "canceled_at": _iso(order["canceled_at"]),
            "events": [e["event_name"] for e in order["events"]],
            "items": order["items"],
        }

    def set_shopper_information_removal(self, order_id: str, enabled: bool) -> dict[str, Any]:
        """POST /_emulator/orders/{order_id}/shopper_information_removal."""

        def op() -> dict[str, Any]:
            order = self.store.get("order", order_id)
            if order is None:
                raise ResourceNotFound()
            order["shopper_information_removal"] = enabled
            self._save_order(order)
            return {"order_id": order_id, "shopper_information_removal": enabled}

        return self._atomic(op)

    def _effective_reply_delay(self) -> float:
        return self.script.reply_delay if self.reply_delay is None else self.reply_delay

    def _schedule(self, order: Record, kind: str, delay: float, **data: Any) -> None:
        if not self.shopper_enabled:
            return
        number = int(self.store.get_meta("action_seq") or 0) + 1
        self.store.set_meta("action_seq", number)
        due = self.now().timestamp() + delay
        action = {"id": number, "kind": kind, "order_id": order["order_id"], "due": due, **data}
        self.store.put("action", f"{number:012d}", action, parent="pending", seq=due)

    def _schedule_greeting(self, order: Record) -> None:
        script = self.script
        if script.greeting is not None:
            self._schedule(order, "greeting", script.greeting_delay)
        rep = script.replacement
        if rep is not None and rep.trigger == "greeting":
            self._schedule(order, "replacement", script.greeting_delay + rep.delay)

    def _schedule_reply(self, order: Record, message: Record) -> None:
        text = message["body"]
        reply = self.script.reply_for(text)
        if reply is not None:
            self._schedule(order, "reply", self._effective_reply_delay(), text=reply,
                           message=text, customer_message_id=message["id"])  # fmt: skip
        rep = self.script.replacement
        if (
            rep is not None
            and rep.trigger == "keyword"
            and not order["replacement_sent"]
            and any(
                re.search(rf"(?<!\w){re.escape(k.lower())}(?!\w)", text.lower())
                for k in rep.keywords
            )
        ):
            order["replacement_sent"] = True
            self._save_order(order)
            self._schedule(order, "replacement", self._effective_reply_delay() + rep.delay)

    def _drop_actions(self, internal_id: int) -> None:
        for action in self.store.children("action", "pending"):
            order = self.store.get("order", action["order_id"])
            if order is None or order["internal_id"] == internal_id:
                self.store.delete("action", f"{action['id']:012d}")

    def next_due(self) -> float | None:
        """When the next scripted-shopper action is due (Unix seconds), or None."""
        pending = self.store.children("action", "pending")
        return float(pending[0]["due"]) if pending else None

    def run_due_actions(self) -> int:
        """Run the scripted shopper's due actions; on a frozen clock, fast-forward to each.

        Returns how many ran. Actions may schedule more (a replacement after the greeting); on a
        frozen clock those run too, so that one request sees the shopper's whole turn.
        """
        ran = 0
        with self._action_lock:
            while True:
                # A read first: most requests find nothing due, and need no write transaction.
                due_at = self.next_due()
                if due_at is None or (not self.clock.frozen and due_at > self.now().timestamp()):
                    return ran
                with self._transaction():
                    pending = self.store.children("action", "pending")
                    if not pending:
                        return ran
                    action = pending[0]
                    due = datetime.fromtimestamp(action["due"], timezone.utc)
                    if self.clock.frozen:
                        self.clock.advance_to(due)
                    elif due > self.now():
                        return ran
                    self.store.delete("action", f"{action['id']:012d}")
                    self._run_action(action)
                    ran += 1

    def _run_action(self, action: Record) -> None:
        order = self.store.get("order", action["order_id"])
        if order is None or not self.shopper_enabled or not self._chat_open(order):
            return
        user = self.store.get("user", order["user_id"]) or {}
        values = {
            "customer_name": str(user.get("first_name", "")),
            "shopper_name": self.script.display_name,
            "message": str(action.get("message", "")),
            "base_url": self.base_url.rstrip("/"),
        }
        kind = action["kind"]
        if kind == "greeting":
            if self.script.greeting is None:
                return
            self._store_message(order, from_shopper=True,
                                body=render(self.script.greeting, **values), image="")  # fmt: skip
        elif kind == "reply":
            now = _ts(self.now())
            for message in self.store.children("message", str(order["internal_id"])):
                if message["sender_type"] == "user" and not message["read"]:
                    message.update(read=True, read_at=now)
                    self.store.put("message", str(message["id"]), message,
                                   parent=str(order["internal_id"]), seq=message["id"])  # fmt: skip
            self._store_message(order, from_shopper=True, body=render(action["text"], **values),
                                image="")  # fmt: skip
        elif kind == "replacement":
            rep = self.script.replacement
            if rep is None:
                return
            order["replacement_sent"] = True
            self._save_order(order)
            self._store_message(
                order,
                from_shopper=True,
                body=render(rep.body, **values),
                image=render(rep.image_url, **values),
            )

    # ------------------------------------------------------------------ control plane
    def reset(self) -> None:
        """Clear every record, token, pending action and fault; back to the configured seed,
        clock and shopper."""
        seed, start, script, enabled, reply_delay = self._initial
        with self._action_lock, self.store.transaction():
            self.store.clear()
            self.ids.reseed(seed)
            self.store.set_meta("ids", self.ids.snapshot())
            self.clock.reset(start)
            self.faults.clear(seed)
            self.script = script
            self.shopper_enabled = enabled and script.enabled
            self.reply_delay = reply_delay

    def set_seed(self, seed: int) -> None:
        """Restart the id sequence (and the fault draws) from `seed`."""
        with self.store.transaction():
            self.ids.reseed(seed)
            self.faults.clear(None)
            self.store.set_meta("ids", self.ids.snapshot())

    def save_clock(self) -> None:
        """Remember the clock in the database (a restart resumes from here, never earlier)."""
        with self.store.transaction():
            self.store.set_meta("clock", self.now().timestamp())

    def clock_view(self) -> dict[str, Any]:
        """GET /_emulator/clock."""
        due = self.next_due()
        return {
            "now": format_time(self.now()),
            "frozen": self.clock.frozen,
            "next_shopper_action_at": _iso(due),
        }

    def configure_shopper(
        self, *, enabled: bool | None, script: ShopperScript | None, reply_delay: float | None,
        reply_delay_set: bool,
    ) -> None:  # fmt: skip
        """PUT /_emulator/shopper."""
        with self._action_lock, self.store.transaction():
            if script is not None:
                self.script = script
                if enabled is None:
                    enabled = script.enabled
            if enabled is not None:
                self.shopper_enabled = enabled
                if not enabled:
                    for action in self.store.children("action", "pending"):
                        self.store.delete("action", f"{action['id']:012d}")
            if reply_delay_set:
                self.reply_delay = reply_delay


def _parse_iso(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def decode_assertion(assertion: str) -> str | None:
    """The user id in a `fulfillment_user_assertion` (Base64 of `{"user_id": "..."}`), or None.

    The docs' own example decodes to `{ "user_id": kamalsingh1234}` (unquoted), so that form is
    accepted too.
    """
    text = assertion.strip()
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=False)
        decoded = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    try:
        data = json.loads(decoded)
    except ValueError:
        match = re.fullmatch(r'\s*\{\s*"user_id"\s*:\s*"?([^"\s{}]+)"?\s*\}\s*', decoded)
        return match.group(1) if match else None
    if isinstance(data, dict):
        value = data.get("user_id")
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
            return str(value)
    return None
