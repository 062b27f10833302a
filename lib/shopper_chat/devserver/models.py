"""The backend: every piece of state and every rule of the development server.

Methods are named after the API operations. Handlers (`responses.py`) parse requests into the
contract's models and call these; the backend keeps typed records (`records.py`), returns the
contract's response models, raises the errors of `exceptions.py` and never touches HTTP. Each
operation runs in one storage transaction: it commits before the handler answers, and a refused
operation rolls back (including the ids it drew).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import random
import re
import secrets
import time
from collections.abc import Callable, Container, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, TypedDict, TypeVar

from pydantic import BaseModel

from shopper_chat import contract as c

from . import workflow
from .callbacks import CallbackConfig, CallbackEngine, PendingDelivery, RetryPolicy
from .clock import Clock
from .control import (
    AddFaultRequest,
    CallbackDeliveries,
    CallbackSettings,
    CallbacksRequest,
    ClockRequest,
    ClockView,
    FaultList,
    Health,
    InformationRemoval,
    OrderDebug,
    OrderScenario,
    ScenarioInfo,
    ScenarioList,
    Seed,
    ShopperRequest,
    ShopperSettings,
)
from .exceptions import (
    ChatNotAllowed,
    Forbidden,
    InvalidParameter,
    ResourceNotFound,
    Unauthorized,
    UserNotFound,
)
from .faults import FaultRule, Faults, RuleError
from .ids import IdSource
from .records import (
    BatchRecord,
    CallbackRecord,
    Event,
    HoldRecord,
    MessageRecord,
    OrderPointer,
    OrderRecord,
    ServiceOptionRecord,
    ShopperRecord,
    TokenRecord,
    UserRecord,
    Window,
)
from .scenarios import Scenario
from .shopper import (
    PICTURES,
    SCRIPT,
    SILENT,
    ScriptedShopper,
    ScriptError,
    ShopperScript,
    UnknownScenario,
)
from .store import Store

__all__ = ["CHAT_EXPIRY", "Caller", "ChatPage", "ConnectBackend", "HOLD_LIFETIME", "IssuedToken",
           "TOKEN_LIFETIME"]  # fmt: skip

logger = logging.getLogger("shopper_chat.devserver")

TOKEN_LIFETIME = 86400
CHAT_EXPIRY = timedelta(hours=24)
HOLD_LIFETIME = timedelta(minutes=10)

T = TypeVar("T")


@dataclass(frozen=True)
class Caller:
    """Who is calling: the retailer (client token) or one customer (user token)."""

    kind: str  # "client" | "user"
    user_id: str | None = None
    scope: str = ""
    expires_at: float = float("inf")  # when the token stops working (Unix seconds)

    @property
    def is_user(self) -> bool:
        """True for a customer's user access token."""
        return self.kind == "user"


@dataclass(frozen=True)
class ChatPage:
    """A conversation before it is serialized: each message's stored revision, in order (the
    text changes whenever the message does, e.g. once it is read), the messages of the revisions
    the caller did not know yet, and the metadata."""

    revisions: list[str]
    messages: dict[str, c.ChatMessage]
    metadata: c.ChatMetadata
    changes_at: datetime | None = None
    """When the answer changes with no write (the chat expires), if it ever does."""


class IssuedToken(TypedDict):
    """A new access token, in `contract.AccessToken`'s fields.

    A mapping rather than the model: the model keeps the token a `Secret`, and the notebooks'
    tests read the plain token here to check that no file of a run holds it.
    """

    access_token: str
    token_type: str
    expires_in: int
    scope: str
    created_at: int


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _echo(model: BaseModel) -> dict[str, Any]:
    # Nested objects the API stores and echoes (address, items): the fields that were sent.
    return model.model_dump(mode="json", exclude_unset=True)


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
        info: dict[str, str] | None = None,
        callbacks: CallbackConfig | None = None,
        callback_policy: RetryPolicy | None = None,
        scenarios: Mapping[str, Scenario] | None = None,
        scenario: str | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.ids = IdSource(seed)
        self.faults = Faults(seed)
        self._initial = (seed, start, script, shopper_enabled, reply_delay, scenario)
        self.client_id = client_id
        self._client_secret = client_secret
        self.timezone_name = timezone_name
        self.info = info or {"version": "", "db": "memory"}
        self.base_url = "http://127.0.0.1"
        self.tokens = store.table(TokenRecord)
        self.users = store.table(UserRecord)
        self.options = store.table(ServiceOptionRecord)
        self.holds = store.table(HoldRecord)
        self.orders = store.table(OrderRecord)
        self.pointers = store.table(OrderPointer)
        self.shoppers = store.table(ShopperRecord)
        self.batches = store.table(BatchRecord)
        self.messages = store.table(MessageRecord)
        self.shopper = ScriptedShopper(store, clock, self, script=script,
                                       enabled=shopper_enabled, reply_delay=reply_delay,
                                       scenarios=scenarios, scenario=scenario)
        state = store.get_meta("ids")
        if state is not None:
            self.ids.restore(state)  # an existing database keeps its id sequence
        # Event callbacks: queued only once the transaction that caused them commits (a refused
        # request sends nothing), then delivered by the engine's own thread.
        self._initial_callbacks = callbacks
        self._outbox: list[c.Event] = []
        self._depth = 0
        self._event_seq = int(store.get_meta("event_seq") or 0)
        self.callbacks = CallbackEngine(callbacks, policy=callback_policy,
                                        store=_StoredDeliveries(store))  # fmt: skip
        self.ids.skip_message_ids(self.messages.max_id())
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
    def transaction(self) -> Iterator[None]:
        """One storage transaction; a refused operation also gives back the ids it drew, and
        sends none of its event callbacks. The outermost one publishes them once committed."""
        snapshot = self.ids.snapshot()
        events: list[c.Event] = []
        try:
            with self.store.transaction():
                # Inside the store's lock: one thread at a time here, so one outbox is enough.
                self._depth += 1
                outer = self._depth == 1
                event_seq = self._event_seq
                try:
                    yield
                    self.store.set_meta("ids", self.ids.snapshot())
                    self.store.set_meta("clock", self.now().timestamp())
                    if outer and self._event_seq != event_seq:
                        self.store.set_meta("event_seq", self._event_seq)
                except BaseException:
                    if outer:
                        self._outbox.clear()
                        self._event_seq = event_seq
                    raise
                finally:
                    self._depth -= 1
                if outer:
                    events, self._outbox = self._outbox, []
        except BaseException:
            self.ids.restore(snapshot)
            raise
        for event in events:
            self.callbacks.publish(event)

    def _emit(self, event_name: str, **metadata: str) -> None:
        """An event callback caused by the operation in progress (none when nobody gets it)."""
        if not self.callbacks.wants(event_name):
            return
        try:
            # Its own seeded source, so that turning callbacks on changes no other id.
            rng = random.Random(f"{self.ids.seed}/event/{self._event_seq + 1}")
            event = c.parse_event({"event_id": rng.randrange(10**18, 2**63),
                                   "event_name": event_name, "event_timestamp": self.now(),
                                   "event_metadata": metadata})  # fmt: skip
        except Exception:  # an event must never fail the request that caused it
            logger.exception("event callbacks: could not make a %s event", event_name)
            return
        self._event_seq += 1
        if self._depth:
            self._outbox.append(event)
        else:
            self.callbacks.publish(event)

    def _emit_order(self, order: OrderRecord, status: str) -> None:
        self._emit(c.fulfillment_event_name(status), order_id=order.order_id)

    def _atomic(self, operation: Callable[[], T]) -> T:
        with self.transaction():
            return operation()

    def now(self) -> datetime:
        """The server's clock."""
        return self.clock.now()

    def _unique_id(self, kind: str, taken: Callable[[int], bool]) -> int:
        while True:
            candidate = self.ids.new_id(kind)
            if not taken(candidate):
                return candidate

    # ------------------------------------------------------------------ tokens
    def create_token(self, *, client_id: str, client_secret: str, grant_type: str,
                     scope: str | None, assertion: str | None) -> IssuedToken:  # fmt: skip
        """POST /v2/oauth/token."""
        if not (
            secrets.compare_digest(client_id.encode(), self.client_id.encode())
            and secrets.compare_digest(client_secret.encode(), self._client_secret.encode())
        ):
            raise Unauthorized(c.Messages.INVALID_CREDENTIALS)
        user_id: str | None = None
        if grant_type not in c.GRANT_SCOPES:
            raise InvalidParameter(c.Messages.INVALID, key="grant_type")
        scope = scope or c.GRANT_SCOPES[grant_type]
        if scope != c.GRANT_SCOPES[grant_type]:
            raise InvalidParameter(c.Messages.INVALID, key="scope")
        if grant_type == c.USER_GRANT:
            if not assertion:
                raise InvalidParameter(c.Messages.BLANK, key="assertion")
            user_id = decode_assertion(assertion)
            if user_id is None:
                raise InvalidParameter(c.Messages.INVALID, key="assertion")
        token = secrets.token_urlsafe(32)
        created = int(self.now().timestamp())
        record = TokenRecord(token_hash=_hash(token), caller="user" if user_id else "client",
                             user_id=user_id, scope=scope, created_at=created,
                             expires_at=created + TOKEN_LIFETIME)  # fmt: skip
        self._atomic(lambda: self.tokens.insert(record))
        return {"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME,
                "scope": scope, "created_at": created}  # fmt: skip

    def authenticate(self, token: str | None) -> Caller:
        """The caller behind an access token, or 401."""
        if not token:
            raise Unauthorized(c.Messages.MISSING_TOKEN)
        record = self.tokens.get(_hash(token))
        if record is None:
            raise Unauthorized(c.Messages.INVALID_TOKEN)
        if self.now().timestamp() >= record.expires_at:
            raise Unauthorized(c.Messages.EXPIRED_TOKEN)
        return Caller(kind=record.caller, user_id=record.user_id, scope=record.scope,
                      expires_at=record.expires_at)  # fmt: skip

    @staticmethod
    def _retailer_only(caller: Caller) -> None:
        if caller.is_user:
            raise Forbidden("This access token does not allow this request")

    # ------------------------------------------------------------------ fulfillment
    def _user(self, user_id: str) -> UserRecord:
        user = self.users.get(user_id)
        if user is None:
            raise UserNotFound(status_code=404)  # the user in the URL is the missing resource
        return user

    def create_user(self, caller: Caller, request: c.CreateUserRequest) -> c.User:
        """POST /v2/fulfillment/users (an existing user_id is updated)."""
        self._retailer_only(caller)

        def op() -> c.User:
            existing = self.users.get(request.user_id)
            user = existing or UserRecord(
                user_id=request.user_id, first_name=request.first_name, created_at=self.now(),
                internal_id=self._unique_id("user", lambda n: self.users.find("internal_id", n)
                                            is not None),
            )  # fmt: skip
            changes = request.model_dump(exclude_none=True)
            user = user.model_copy(update=changes)
            if existing is None:
                self.users.insert(user)
            else:
                self.users.update(user)
            return c.User(**user.model_dump(include=set(c.User.model_fields)))

        return self._atomic(op)

    def _new_options(self, user_id: str | None, count: int = 6) -> c.ServiceOptions:
        first = (self.now() + timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
        options = []
        for i in range(count):
            start = first + timedelta(hours=2 * i)
            option_id = self._unique_id("service_option", self.options.exists)
            option = ServiceOptionRecord(
                id=option_id, reference=f"scheduled-{start:%Y%m%d%H%M}-{option_id}",
                start_at=start, end_at=start + timedelta(hours=2), user_id=user_id)  # fmt: skip
            self.options.insert(option)
            options.append(self._option(option))
        return c.ServiceOptions(service_options=options)

    @staticmethod
    def _option(option: ServiceOptionRecord) -> c.ServiceOption:
        return c.ServiceOption(
            id=option.id,
            service_option_reference=option.reference,
            date=option.start_at.strftime("%Y-%m-%d"),
            window=c.ServiceWindow(start_at=option.start_at, end_at=option.end_at,
                                   type="scheduled", asap=False),  # fmt: skip
            availability=c.Availability(available=True, reasons=[], item_codes=[]),
        )

    def list_delivery_options(self, caller: Caller, user_id: str) -> c.ServiceOptions:
        """POST /v2/fulfillment/users/{user_id}/service_options/cart/delivery."""
        self._retailer_only(caller)

        def op() -> c.ServiceOptions:
            self._user(user_id)
            return self._new_options(user_id)

        return self._atomic(op)

    def preview_delivery_options(self, caller: Caller) -> c.ServiceOptions:
        """POST /v2/fulfillment/service_options/delivery (no user: nothing to reserve)."""
        self._retailer_only(caller)
        return self._atomic(lambda: self._new_options(None))

    def reserve_service_option(self, caller: Caller, user_id: str,
                               service_option_id: int) -> c.ServiceOptionHoldResponse:  # fmt: skip
        """POST /v2/fulfillment/users/{user_id}/service_options/{id}/reserve."""
        self._retailer_only(caller)

        def op() -> c.ServiceOptionHoldResponse:
            self._user(user_id)
            option = self.options.get(service_option_id)
            if option is None or option.user_id != user_id:
                raise ResourceNotFound()
            for old in self.holds.children(user_id):
                if not old.released:  # kept, released: a hold's id is never given out again
                    self.holds.update(old.model_copy(update={"released": True}))
            hold = HoldRecord(id=self._unique_id("hold", self.holds.exists), user_id=user_id,
                              expires_at=self.now() + HOLD_LIFETIME, option=option)  # fmt: skip
            self.holds.insert(hold)
            return c.ServiceOptionHoldResponse(service_option_hold=c.ServiceOptionHold(
                id=hold.id, expires_at=hold.expires_at, service_option=self._option(option)))

        return self._atomic(op)

    def create_delivery_order(self, caller: Caller, user_id: str,
                              request: c.CreateOrderRequest) -> c.Order:  # fmt: skip
        """POST /v2/fulfillment/users/{user_id}/orders/delivery."""
        self._retailer_only(caller)

        def op() -> c.Order:
            user = self._user(user_id)
            if self.orders.exists(request.order_id):
                raise InvalidParameter(c.Messages.TAKEN, key="order_id")
            hold = self.holds.get(request.service_option_hold_id)
            if hold is None or hold.user_id != user_id or hold.released:
                raise InvalidParameter(c.Messages.INVALID, key="service_option_hold_id")
            if self.now() >= hold.expires_at:
                raise InvalidParameter("has expired", key="service_option_hold_id")
            self.holds.update(hold.model_copy(update={"released": True}))
            order = OrderRecord(
                order_id=request.order_id,
                internal_id=self._unique_id("order", self.pointers.exists),
                user_id=user_id,
                customer_internal_id=user.internal_id,
                created_at=self.now(),
                window=Window(start_at=hold.option.start_at, end_at=hold.option.end_at),
                address=_echo(request.address),
                items=[_echo(item) for item in request.items],
                initial_tip_cents=request.initial_tip_cents,
                special_instructions=request.special_instructions,
                leave_unattended=request.leave_unattended,
                locale=user.locale,
            )
            if request.user is not None:
                contact = request.user.model_dump(include={"phone_number", "first_name",
                                                           "last_name"}, exclude_none=True)
                self.users.update(user.model_copy(update=contact))
            self.orders.insert(order)
            self.pointers.insert(OrderPointer(internal_id=order.internal_id,
                                              order_id=order.order_id))
            self._emit_order(order, "brand_new")
            return self._order(order)

        return self._atomic(op)

    def save_order(self, order: OrderRecord) -> None:
        """Store a changed order."""
        self.orders.update(order)

    def _batch_of(self, order: OrderRecord) -> BatchRecord | None:
        return None if order.batch_id is None else self.batches.get(order.batch_id)

    def _order_state(self, order: OrderRecord) -> c.OrderWorkflowState:
        if order.canceled_at is not None:
            return "canceled"
        batch = self._batch_of(order)
        return "brand_new" if batch is None else workflow.order_state(batch.workflow_state)

    def _window(self, order: OrderRecord) -> c.OrderWindow:
        return c.OrderWindow(start_at=order.window.start_at, end_at=order.window.end_at)

    def _order(self, order: OrderRecord) -> c.Order:
        return c.Order(
            id=order.order_id,
            status=self._order_state(order),
            created_at=order.created_at,
            fulfillment_type=order.fulfillment_type,
            locale=order.locale,
            window=self._window(order),
            address=order.address,
            items=tuple(order.items),
            initial_tip_cents=order.initial_tip_cents,
            special_instructions=order.special_instructions,
            leave_unattended=order.leave_unattended,
        )

    def get_delivery_order(self, caller: Caller, user_id: str, order_id: str) -> c.Order:
        """GET /v2/fulfillment/users/{user_id}/orders/{order_id}."""
        self._retailer_only(caller)
        self._user(user_id)
        order = self.orders.get(order_id)
        if order is None or order.user_id != user_id:
            raise ResourceNotFound()
        return self._order(order)

    # ------------------------------------------------------------------ sandbox
    def create_shopper(self, caller: Caller, request: c.CreateShopperRequest) -> c.Shopper:
        """POST /v2/fulfillment_sandbox/shoppers (email and phone already checked)."""
        digits = request.phone.lstrip("+") if request.phone else None

        def op() -> c.Shopper:
            if digits is not None and self.shoppers.find("phone_digits", digits) is not None:
                raise InvalidParameter(c.Messages.PHONE_TAKEN, key="phone")
            shopper = ShopperRecord(id=self._unique_id("shopper", self.shoppers.exists),
                                    email=request.email, phone_digits=digits,
                                    created_at=self.now())  # fmt: skip
            self.shoppers.insert(shopper)
            return c.Shopper(id=shopper.id)

        return self._atomic(op)

    def _visible_order(self, caller: Caller, order_id: str) -> OrderRecord | None:
        order = self.orders.get(order_id)
        if order is None or (caller.is_user and order.user_id != caller.user_id):
            return None
        return order

    def create_batch(self, caller: Caller, request: c.CreateBatchRequest) -> c.Batch:
        """POST /v2/fulfillment_sandbox/batches."""

        def op() -> c.Batch:
            if not self.shoppers.exists(request.shopper_id):
                raise InvalidParameter(c.Messages.SHOPPER_NOT_FOUND, key="shopper_id")
            found: list[OrderRecord] = []
            for index, entry in enumerate(request.orders, start=1):
                key = f"orders[{index}]"
                order = self._visible_order(caller, entry.id)
                if order is None or (entry.user_id and entry.user_id != order.user_id):
                    raise InvalidParameter(c.Messages.ORDER_NOT_FOUND, key=key)
                if order.batch_id is not None or any(o.order_id == order.order_id for o in found):
                    raise InvalidParameter("Order has already been batched", key=key)
                if order.canceled_at is not None:
                    raise InvalidParameter("Order cannot be batched: it is canceled", key=key)
                found.append(order)
            try:
                state = workflow.initial_state(request.batch_type, request.workflow_state)
            except workflow.IllegalMove as exc:
                raise InvalidParameter(str(exc), key="workflow_state") from None
            batch = BatchRecord(id=self._unique_id("batch", self.batches.exists),
                                batch_type=request.batch_type, shopper_id=request.shopper_id,
                                order_ids=[o.order_id for o in found],
                                workflow_state=state.value, created_at=self.now())  # fmt: skip
            self.batches.insert(batch)
            for order in found:
                order.batch_id = batch.id
                self.save_order(order)
            self._batch_moved(batch, "brand_new")
            return c.Batch(id=batch.id, workflow_state=batch.workflow_state)

        return self._atomic(op)

    def _visible_batch(self, caller: Caller, batch_id: int) -> BatchRecord:
        batch = self.batches.get(batch_id)
        if batch is None or (caller.is_user and not any(
                self._visible_order(caller, oid) for oid in batch.order_ids)):  # fmt: skip
            raise ResourceNotFound()
        return batch

    def advance_batch(self, caller: Caller, batch_id: int, workflow_state: str | None) -> c.Batch:
        """POST /v2/fulfillment_sandbox/batches/{batch_id}/advance (None: the next state)."""

        def op() -> c.Batch:
            batch = self._visible_batch(caller, batch_id)
            try:
                if workflow_state is None:
                    state = workflow.next_state(batch.batch_type, batch.workflow_state)
                else:
                    state = workflow.check_move(batch.batch_type, batch.workflow_state,
                                                workflow_state)  # fmt: skip
            except workflow.IllegalMove as exc:
                raise InvalidParameter(str(exc), key="workflow_state") from None
            previous, batch.workflow_state = batch.workflow_state, state.value
            self.batches.update(batch)
            self._batch_moved(batch, previous)
            return c.Batch(id=batch.id, workflow_state=batch.workflow_state)

        return self._atomic(op)

    def _batch_moved(self, batch: BatchRecord, previous: str) -> None:
        """Orders follow their batch: delivery time, the shopper's greeting, and a fulfillment
        event for each state passed that has one (a skip sends those of the states between)."""
        state = batch.workflow_state
        for passed in workflow.passed(batch.batch_type, previous, state):
            status = c.BATCH_STATE_EVENTS.get(passed)
            if status is None:
                continue
            for order_id in batch.order_ids:
                order = self.orders.get(order_id)
                if order is not None and order.canceled_at is None:
                    self._emit(status, order_id=order_id)
        for order_id in batch.order_ids:
            order = self.orders.get(order_id)
            if order is None or order.canceled_at is not None:
                continue
            if state == "completed" and order.delivered_at is None:
                order.delivered_at = self.now()
            shopping = (workflow.is_past(batch.batch_type, state, "picking")
                        and state in c.CHAT_OPEN_STATES)  # fmt: skip
            if shopping and not order.greeted:
                order.greeted = True
                self.shopper.shopping_started(order)
            self.shopper.batch_moved(order, state)
            self.save_order(order)

    def _shopper_order(self, caller: Caller, shopper_id: int, order_id: str) -> OrderRecord:
        order = self._visible_order(caller, order_id)
        batch = None if order is None else self._batch_of(order)
        if order is None or batch is None or batch.shopper_id != shopper_id:
            raise ResourceNotFound()
        return order

    def add_item(self, caller: Caller, shopper_id: int, order_id: str,
                 request: c.AddItemRequest) -> c.Success:  # fmt: skip
        """POST /v2/fulfillment_sandbox/shoppers/{shopper_id}/orders/{order_id}/items."""

        def op() -> c.Success:
            order = self._shopper_order(caller, shopper_id, order_id)
            line_num = request.line_num or _next_line_num(order.items)
            if any(str(i.get("line_num")) == line_num for i in order.items):
                raise InvalidParameter(c.Messages.TAKEN, key="line_num")
            item = request.model_dump(mode="json", exclude_none=True)
            order.items.append({**item, "line_num": line_num, "added_by_shopper": True})
            self.save_order(order)
            return c.Success(success=True)

        return self._atomic(op)

    def update_item(self, caller: Caller, shopper_id: int, order_id: str, line_num: str,
                    request: c.UpdateItemRequest) -> c.Success:  # fmt: skip
        """PUT /v2/fulfillment_sandbox/shoppers/{shopper_id}/orders/{order_id}/items/{line_num}."""

        def op() -> c.Success:
            order = self._shopper_order(caller, shopper_id, order_id)
            if not self.apply_item_update(order, line_num, request):
                raise ResourceNotFound()
            return c.Success(success=True)

        return self._atomic(op)

    def apply_item_update(self, order: OrderRecord, line_num: str,
                          request: c.UpdateItemRequest) -> bool:  # fmt: skip
        """The item rule of the Sandbox API (and of the scripted shopper): the line takes the
        request's fields. False when the order has no such line."""
        for item in order.items:
            if str(item.get("line_num")) == line_num:
                item.update(request.model_dump(mode="json", exclude_none=True))
                self.save_order(order)
                status = _ITEM_EVENTS.get(request.status)
                if status is not None:
                    self._emit_order(order, status)
                return True
        return False

    def create_callback(self, caller: Caller, order_id: str, event_name: str) -> c.Success:
        """POST /v2/fulfillment_sandbox/orders/{order_id}/callbacks."""

        def op() -> c.Success:
            order = self._visible_order(caller, order_id)
            if order is None:
                raise ResourceNotFound()
            state = self._order_state(order)
            if event_name == "canceled":
                if state in ("delivered", "canceled", "staged"):
                    raise InvalidParameter(f"cannot cancel an order that is {state}",
                                           key="event_name")  # fmt: skip
                order.canceled_at = self.now()
                self.shopper.forget(order.order_id)
            elif event_name == "rescheduled":
                day = timedelta(days=1)
                order.window = Window(start_at=order.window.start_at + day,
                                      end_at=order.window.end_at + day)  # fmt: skip
            order.events.append(Event(event_name=event_name, at=self.now()))
            self.save_order(order)
            self._emit_order(order, event_name)
            return c.Success(success=True)

        return self._atomic(op)

    # ------------------------------------------------------------------ post-checkout
    def _chat_order(self, caller: Caller, order_ref: str, internal: bool) -> OrderRecord:
        if internal:
            pointer = self.pointers.get(order_ref) if order_ref.isdigit() else None
            order_ref = "" if pointer is None else pointer.order_id
        order = self._visible_order(caller, order_ref) if order_ref else None
        if order is None:
            raise ResourceNotFound()
        return order

    def check_chat_order(self, caller: Caller, order_ref: str, internal: bool) -> None:
        """404/4000 unless the caller may see this order."""
        self._chat_order(caller, order_ref, internal)

    def get_order_status(self, caller: Caller, order_id: str) -> c.OrderStatus:
        """GET /v2/post_checkout/orders/{order_id}."""
        order = self._chat_order(caller, order_id, internal=False)
        return c.OrderStatus(id=order.order_id, workflow_state=self._order_state(order),
                             fulfillment_type=order.fulfillment_type,
                             created_at=order.created_at, window=self._window(order))  # fmt: skip

    def _is_expired(self, order: OrderRecord) -> bool:
        closed = order.canceled_at or order.delivered_at
        return closed is not None and self.now() >= closed + CHAT_EXPIRY

    def _chat_open(self, order: OrderRecord) -> bool:
        batch = self._batch_of(order)
        return (batch is not None and order.canceled_at is None
                and batch.workflow_state in c.CHAT_OPEN_STATES)  # fmt: skip

    @staticmethod
    def _message(message: MessageRecord) -> c.ChatMessage:
        return c.ChatMessage(**message.model_dump())

    def chat_page(self, caller: Caller, order_ref: str, internal: bool,
                  known: Container[str] = ()) -> ChatPage:  # fmt: skip
        """GET /v2/post_checkout/chat/{order_id}/messages, before it is serialized."""
        order = self._chat_order(caller, order_ref, internal)
        if order.shopper_information_removal:
            raise Forbidden("Shopper information is not available for this order")
        user = self.users.get(order.user_id)
        batch = self._batch_of(order)
        script = self.shopper.script
        shoppers = () if batch is None else (c.ShopperProfile(
            id=str(batch.shopper_id), display_name=script.display_name,
            avatar_url=script.avatar_url),)
        expired = self._is_expired(order)
        closed = order.canceled_at or order.delivered_at
        revisions = [] if expired else self.messages.revisions(str(order.internal_id))
        return ChatPage(
            changes_at=None if expired or closed is None else closed + CHAT_EXPIRY,
            revisions=revisions,
            messages={r: self._message(self.messages.parse(r)) for r in revisions
                      if r not in known},
            metadata=c.ChatMetadata(
                customer=c.Customer(id=str(order.customer_internal_id),
                                    display_name=user.first_name if user else ""),
                shoppers=shoppers,
                is_expired=expired,
            ),
        )  # fmt: skip

    def list_messages(self, caller: Caller, order_ref: str, internal: bool) -> c.Conversation:
        """GET /v2/post_checkout/chat/{order_id}/messages."""
        page = self.chat_page(caller, order_ref, internal)
        return c.Conversation(chat_messages=tuple(page.messages[r] for r in page.revisions),
                              metadata=page.metadata)  # fmt: skip

    def _store_message(self, order: OrderRecord, *, from_shopper: bool, body: str,
                       image: str) -> MessageRecord:  # fmt: skip
        batch = self._batch_of(order)
        shopper_id = "" if batch is None else str(batch.shopper_id)
        customer_id = str(order.customer_internal_id)
        message = MessageRecord(
            id=self.ids.new_message_id(),
            order_id=order.internal_id,
            created_at=self.now(),
            sender_type="driver" if from_shopper else "user",
            sender_id=shopper_id if from_shopper else customer_id,
            recipient_type="user" if from_shopper else "driver",
            recipient_id=customer_id if from_shopper else shopper_id,
            body=body,
            image=image,
        )
        self.messages.insert(message)
        # The topic: the conversation, named by the order's internal id (a guess, see README).
        self._emit(c.CHAT_MESSAGE_CREATED, topic_id=str(order.internal_id))
        return message

    def create_message(self, caller: Caller, order_ref: str, internal: bool, body: str,
                       image_url: str) -> c.SentMessage:  # fmt: skip
        """POST /v2/post_checkout/chat/{order_id}/messages (body and image already checked)."""

        def op() -> c.SentMessage:
            order = self._chat_order(caller, order_ref, internal)
            if not self._chat_open(order):
                raise ChatNotAllowed()
            message = self._store_message(order, from_shopper=False, body=body, image=image_url)
            self.shopper.customer_wrote(order, body, image_url)
            return c.SentMessage(id=message.id, type="CHAT", created_at=message.created_at,
                                 timezone=self.timezone_name)  # fmt: skip

        return self._atomic(op)

    def _mark_read(self, order: OrderRecord, sender: str) -> int:
        # Only the unread rows (an index of the store): not the whole conversation.
        unread = self.messages.unread(str(order.internal_id), sender)
        for message in unread:
            message.read, message.read_at = True, self.now()
            self.messages.update(message)
        return len(unread)

    def mark_messages_read(self, caller: Caller, order_ref: str,
                           internal: bool) -> c.MessagesRead:  # fmt: skip
        """PUT /v2/post_checkout/chat/{order_id}/messages."""

        def op() -> c.MessagesRead:
            if caller.is_user and not self.users.exists(caller.user_id or ""):
                raise UserNotFound()
            order = self._chat_order(caller, order_ref, internal)
            return c.MessagesRead(messages_read_count=self._mark_read(order, "driver"))

        return self._atomic(op)

    # ------------------------------------------------------------------ the shopper's side
    def open_chat(self, order_id: str,
                  closing: str | None = None) -> tuple[OrderRecord, str] | None:  # fmt: skip
        """The order and its customer's first name, while its chat is open (for the shopper), or
        as it closes: its batch has just reached `closing` (the shopper's last word)."""
        order = self.orders.get(order_id)
        if order is None:
            return None
        batch = self._batch_of(order)
        last_word = (closing is not None and batch is not None and order.canceled_at is None
                     and batch.workflow_state == closing)  # fmt: skip
        if not (last_word or self._chat_open(order)):
            return None
        user = self.users.get(order.user_id)
        return order, user.first_name if user else ""

    def post_as_shopper(self, order: OrderRecord, body: str, image: str) -> None:
        """A message from the order's shopper (the scripted shopper's voice)."""
        self._store_message(order, from_shopper=True, body=body, image=image)

    def mark_customer_messages_read(self, order: OrderRecord) -> None:
        """The shopper read what the customer sent (it does when it answers)."""
        self._mark_read(order, "user")

    def post_shopper_message(self, order_id: str, body: str, image_url: str,
                             read_customer_messages: bool = False) -> c.ChatMessage:  # fmt: skip
        """POST /_emulator/orders/{order_id}/shopper_messages: a message as the order's shopper
        (`read_customer_messages`: the shopper has read what the customer wrote)."""

        def op() -> c.ChatMessage:
            order = self.orders.get(order_id)
            if order is None:
                raise ResourceNotFound()
            if self._batch_of(order) is None:
                raise Forbidden("The order has no shopper yet: create a batch for it first")
            if not self._chat_open(order):
                raise ChatNotAllowed()
            if read_customer_messages:  # as the scripted shopper does when it answers
                self._mark_read(order, "user")
            message = self._store_message(order, from_shopper=True, body=body, image=image_url)
            return self._message(message)

        return self._atomic(op)

    def picture(self, name: str) -> str:
        """GET /_emulator/images/{name}: a picture scripts may point at (SVG)."""
        if name not in PICTURES:
            raise ResourceNotFound()
        return PICTURES[name]

    def next_due(self) -> float | None:
        """When the scripted shopper's next action is due (Unix seconds), or None."""
        due = self.shopper.next_due()
        return None if due is None else due.timestamp()

    def run_due_actions(self) -> int:
        """Run the scripted shopper's due actions (see `ScriptedShopper.run_due`)."""
        return self.shopper.run_due()

    # ------------------------------------------------------------------ control plane
    def order_debug_view(self, order_id: str) -> OrderDebug:
        """GET /_emulator/orders/{order_id}: the ids a real server keeps to itself."""
        order = self.orders.get(order_id)
        if order is None:
            raise ResourceNotFound()
        batch = self._batch_of(order)
        return OrderDebug(
            order_id=order.order_id, internal_id=order.internal_id, user_id=order.user_id,
            customer_internal_id=order.customer_internal_id, batch_id=order.batch_id,
            shopper_id=None if batch is None else batch.shopper_id,
            workflow_state=self._order_state(order), delivered_at=order.delivered_at,
            canceled_at=order.canceled_at, events=[e.event_name for e in order.events],
            items=order.items,
            scenario=self._order_scenario(order.order_id),
        )  # fmt: skip

    def _order_scenario(self, order_id: str) -> OrderScenario:
        conversation = self.shopper.conversation(order_id)
        return OrderScenario(order_id=order_id, name=conversation.scenario,
                             state=conversation.state or None,
                             since=conversation.entered_at)  # fmt: skip

    def list_scenarios(self) -> ScenarioList:
        """GET /_emulator/scenarios."""
        listed = [ScenarioInfo.model_validate(s.describe())
                  for s in self.shopper.scenarios.values()]  # fmt: skip
        listed += [
            ScenarioInfo(name=SCRIPT, summary="The shopper script's keyword rules "
                         "(--shopper-script, PUT /_emulator/shopper).", start=None, states=[],
                         customer=[], finish=[], source="script"),
            ScenarioInfo(name=SILENT, summary="The scripted shopper says nothing: a person plays "
                         "the shopper (POST .../shopper_messages).", start=None, states=[],
                         customer=[], finish=[], source="built-in"),
        ]  # fmt: skip
        return ScenarioList(default=self.shopper.default_scenario, scenarios=listed)

    def choose_scenario(self, order_id: str, name: str) -> OrderScenario:
        """PUT /_emulator/orders/{order_id}/scenario."""

        def op() -> OrderScenario:
            order = self.orders.get(order_id)
            if order is None:
                raise ResourceNotFound()
            try:
                self.shopper.choose_scenario(order, name)
            except UnknownScenario as exc:
                raise InvalidParameter(str(exc), key="name") from None
            return self._order_scenario(order_id)

        with self.shopper.lock:
            return self._atomic(op)

    def set_shopper_information_removal(self, order_id: str, enabled: bool) -> InformationRemoval:
        """POST /_emulator/orders/{order_id}/shopper_information_removal."""

        def op() -> InformationRemoval:
            order = self.orders.get(order_id)
            if order is None:
                raise ResourceNotFound()
            order.shopper_information_removal = enabled
            self.save_order(order)
            return InformationRemoval(order_id=order_id, shopper_information_removal=enabled)

        return self._atomic(op)

    def health(self) -> Health:
        """GET /_emulator/health."""
        return Health.model_validate({**self.info, "seed": self.ids.seed, "now": self.now(),
                                      "clock_frozen": self.clock.frozen,
                                      "shopper_enabled": self.shopper.enabled})  # fmt: skip

    def reset(self) -> None:
        """Clear every record, token, pending action and fault; back to the configured seed,
        clock and shopper."""
        seed, start, script, enabled, reply_delay, scenario = self._initial
        with self.shopper.lock, self.store.transaction():
            self.store.clear()
            self.ids.reseed(seed)
            self.store.set_meta("ids", self.ids.snapshot())
            self.clock.reset(start)
            self.faults.clear(seed)
            self.shopper.reset(script, enabled=enabled, reply_delay=reply_delay,
                                scenario=scenario)
            self._event_seq = 0
            self.callbacks.reset(self._initial_callbacks)

    def set_seed(self, seed: int) -> Seed:
        """Restart the id sequence (and the fault draws) from `seed`; ids already taken are
        skipped and message ids keep growing."""
        with self.store.transaction():
            self.ids.reseed(seed, after_message_id=self.messages.max_id())
            self.faults.clear(None)
            self.store.set_meta("ids", self.ids.snapshot())
        return Seed(seed=seed)

    def clock_view(self) -> ClockView:
        """GET /_emulator/clock."""
        return ClockView(now=self.now(), frozen=self.clock.frozen,
                         next_shopper_action_at=self.shopper.next_due())  # fmt: skip

    def set_clock(self, request: ClockRequest) -> ClockView:
        """POST /_emulator/clock: exactly one of `now` (freeze there), `advance_seconds`, `real`;
        never backwards. The database remembers the clock (a restart resumes from here)."""
        given = [name for name in ("now", "advance_seconds", "real")
                 if getattr(request, name) is not None]  # fmt: skip
        if len(given) != 1:
            raise InvalidParameter("give exactly one of now, advance_seconds, real", key="now")
        try:
            if request.now is not None:
                self.clock.set(request.now)
            elif request.advance_seconds is not None:
                self.clock.advance(request.advance_seconds)
            else:
                self.clock.use_real_time()
        except ValueError as exc:
            raise InvalidParameter(str(exc), key=given[0]) from None
        with self.store.transaction():
            self.store.set_meta("clock", self.now().timestamp())
        return self.clock_view()

    def list_faults(self) -> FaultList:
        """GET /_emulator/faults."""
        return FaultList(faults=self.faults.list())

    def add_fault(self, request: AddFaultRequest) -> FaultRule:
        """POST /_emulator/faults."""
        rule = FaultRule(id=0, **request.model_dump(exclude_none=True, exclude={"method", "path"}),
                         method=request.method or "*", path=request.path or "*")  # fmt: skip
        try:
            return self.faults.add(rule)
        except RuleError as exc:
            raise InvalidParameter(str(exc), key=exc.key) from None

    def clear_faults(self) -> FaultList:
        """DELETE /_emulator/faults."""
        self.faults.clear()
        return FaultList(faults=[])

    def delete_fault(self, fault_id: int) -> FaultList:
        """DELETE /_emulator/faults/{fault_id}."""
        if not self.faults.remove(fault_id):
            raise ResourceNotFound()
        return self.list_faults()

    def shopper_settings(self) -> ShopperSettings:
        """GET /_emulator/shopper."""
        shopper = self.shopper
        return ShopperSettings(enabled=shopper.enabled, reply_delay=shopper.reply_delay,
                               script=shopper.script,
                               scenario=shopper.default_scenario)  # fmt: skip

    def configure_shopper(self, request: ShopperRequest) -> ShopperSettings:
        """PUT /_emulator/shopper: the script's keys are merged over the current script."""
        try:
            script = None if request.script is None else self.shopper.merged_script(request.script)
        except ScriptError as exc:
            raise InvalidParameter(str(exc), key="script") from None
        try:
            self.shopper.configure(script=script, enabled=request.enabled,
                                   reply_delay=request.reply_delay,
                                   reply_delay_set="reply_delay" in request.model_fields_set,
                                   scenario=request.scenario)  # fmt: skip
        except UnknownScenario as exc:
            raise InvalidParameter(str(exc), key="scenario") from None
        return self.shopper_settings()

    def callback_settings(self) -> CallbackSettings:
        """GET /_emulator/callbacks: the settings, the secret masked (all null: off)."""
        config = self.callbacks.config
        if config is None:
            return CallbackSettings(url=None, token_url=None, client_id=None,
                                    client_secret=None, events=None)  # fmt: skip
        return CallbackSettings.model_validate(config.public())

    def configure_callbacks(self, request: CallbacksRequest) -> CallbackSettings:
        """PUT /_emulator/callbacks: send the event callbacks there from now on (what is
        pending follows)."""
        try:
            config = CallbackConfig(
                url=request.url, token_url=request.token_url, client_id=request.client_id,
                client_secret=request.client_secret,
                events=None if request.events is None else frozenset(request.events))
        except ValueError as exc:  # the body's types already hold: a safety net
            raise InvalidParameter(c.Messages.INVALID, key=str(exc).split(" ", 1)[0]) from None
        self.callbacks.configure(config)
        return self.callback_settings()

    def stop_callbacks(self) -> CallbackSettings:
        """DELETE /_emulator/callbacks: delivery off, pending deliveries dropped."""
        self.callbacks.configure(None)
        return self.callback_settings()

    def callback_deliveries(self) -> CallbackDeliveries:
        """GET /_emulator/callbacks/deliveries: the delivery log and what is pending."""
        return CallbackDeliveries(deliveries=self.callbacks.deliveries(),
                                  pending=len(self.callbacks.pending()))  # fmt: skip


_ITEM_EVENTS: dict[str, str] = {"replaced": "item_replaced", "to_refund": "item_refunded"}
"""A Sandbox item status -> the fulfillment event it sends (`fulfillment.<value>`)."""


class _StoredDeliveries:
    """The callback engine's `PendingStore` in the server's store (with `--db`, in the file)."""

    def __init__(self, store: Store) -> None:
        self._table = store.table(CallbackRecord)

    def save(self, delivery: PendingDelivery) -> None:
        existing = self._table.get(delivery.event_id)
        queued = existing.queued if existing is not None else time.time()
        self._table.put(CallbackRecord(event=delivery.event, attempts=delivery.attempts,
                                       queued=queued))  # fmt: skip

    def discard(self, event_id: int) -> None:
        self._table.store.delete(CallbackRecord.table, str(event_id))

    def load(self) -> list[PendingDelivery]:
        return [PendingDelivery(event=r.event, attempts=r.attempts)
                for r in self._table.children("pending")]  # fmt: skip


def _next_line_num(items: list[dict[str, Any]]) -> str:
    """One more than the largest numeric `line_num` (not the count of items: an item added as
    "3" to a one-item order would make the count's next number collide)."""
    taken = {str(item.get("line_num", "")) for item in items}
    # Digits only, and short enough for int() (a line_num is any text up to the contract's limit).
    numbers = [int(n) for n in taken if n.isascii() and n.isdigit() and len(n) <= 18]
    candidate = max(numbers, default=0) + 1
    while str(candidate) in taken:
        candidate += 1
    return str(candidate)


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
