"""The control plane's bodies (under `/_emulator/`, never part of Connect): requests and answers.

Unlike Connect, the control plane refuses unknown fields ("is not a known field"): a typo there
would silently change a test. Every number has a range, defined here once (the README's table
and the OpenAPI document are generated from these models): a value the server could not live
with (a clock past year 9999, a delay of a million years) is refused with 400/1001 naming the
field, instead of breaking a later request.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from shopper_chat._secret import Secret
from shopper_chat._time import format_time
from shopper_chat.contract import (
    BLANK,
    INVALID,
    EventName,
    MessageRequest,
    NonBlank,
    OptionalText,
    Timestamp,
    problem,
)

from .callbacks import DeliveryAttempt
from .clock import EARLIEST, LATEST
from .faults import FaultRule, When
from .shopper import MAX_DELAY, ShopperScript

__all__ = [
    "AddFaultRequest",
    "CallbackDeliveries",
    "CallbackSettings",
    "CallbacksRequest",
    "ClockRequest",
    "ClockView",
    "EmptyRequest",
    "FaultList",
    "MAX_ADVANCE_SECONDS",
    "MAX_SEED",
    "Health",
    "InformationRemoval",
    "InformationRemovalRequest",
    "OrderDebug",
    "OrderScenario",
    "SampleMessageView",
    "ScenarioInfo",
    "ScenarioList",
    "ScenarioRequest",
    "Seed",
    "SeedRequest",
    "ShopperMessageRequest",
    "ShopperRequest",
    "ShopperSettings",
    "Status",
]

MAX_SEED = 2**31 - 1
"""The largest seed (a server without one draws below 2**31 too)."""
MAX_ADVANCE_SECONDS = 100 * 365 * 86400
"""The longest single move of the clock (100 years); the clock also stays before `LATEST`."""


CLOCK_RANGE = f"from {format_time(EARLIEST)} to {format_time(LATEST)}"
"""Where the clock may be set (`clock.EARLIEST`..`clock.LATEST`), in words."""


def _on_the_clock(moment: datetime) -> datetime:
    if not EARLIEST <= moment <= LATEST:
        raise problem(f"must be {CLOCK_RANGE}")
    return moment


ClockMoment = Annotated[Timestamp, AfterValidator(_on_the_clock)]
"""A moment the clock may be set to."""


class ControlRequest(BaseModel):
    """A control-plane request body: strict types, unknown fields refused."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class EmptyRequest(ControlRequest):
    """`POST /_emulator/reset`: no fields."""


class SeedRequest(ControlRequest):
    """`POST /_emulator/seed`."""

    seed: StrictInt = Field(ge=0, le=MAX_SEED, description="restarts the id sequence")


class ClockRequest(ControlRequest):
    """`POST /_emulator/clock`: exactly one of the three."""

    now: ClockMoment | None = Field(default=None, json_schema_extra={"x-range": CLOCK_RANGE},
                                    description="freezes the clock there (never backwards)")
    advance_seconds: float | None = Field(default=None, ge=0, le=MAX_ADVANCE_SECONDS,
                                          allow_inf_nan=False,
                                          description="seconds (100 years at most), and the "
                                          "clock stays before the end of year 2999")
    real: Literal[True] | None = None


class ShopperMessageRequest(MessageRequest):
    """`POST /_emulator/orders/{order_id}/shopper_messages`: a message as the order's shopper;
    `read_customer_messages`: the shopper has read the customer's messages (the role-play panel's
    answers say so, as the scripted shopper's do)."""

    model_config = ConfigDict(extra="forbid")

    read_customer_messages: StrictBool = False


class InformationRemovalRequest(ControlRequest):
    """`POST /_emulator/orders/{order_id}/shopper_information_removal`."""

    enabled: StrictBool


class AddFaultRequest(ControlRequest):
    """`POST /_emulator/faults` (see `FaultRule`)."""

    method: OptionalText = None
    path: OptionalText = None
    status: StrictInt | None = Field(default=None, ge=400, le=599,
                                     description="the HTTP status answered")
    retry_after: StrictInt | None = Field(default=None, ge=0, le=86_400,
                                          description="seconds, sent as `Retry-After`")
    latency_ms: StrictInt = Field(default=0, ge=0, le=60_000, description="milliseconds")
    drop: StrictBool = False
    probability: float = Field(default=1.0, ge=0, le=1, allow_inf_nan=False,
                               description="the share of matching requests (seeded draws)")
    times: StrictInt | None = Field(default=None, ge=1, le=1_000_000,
                                    description="how many more requests it applies to")
    when: When = Field(default="before", description="before the handler (nothing is done), or "
                       "after it has committed (the answer is delayed, dropped or replaced)")


class ShopperRequest(ControlRequest):
    """`PUT /_emulator/shopper`: the script's keys are merged over the current script."""

    enabled: StrictBool | None = None
    script: dict[StrictStr, Any] | None = None
    reply_delay: float | None = Field(default=None, ge=0, le=MAX_DELAY, allow_inf_nan=False,
                                      description="seconds before the shopper answers")
    scenario: StrictStr | None = None
    """The scenario of new orders (a `script` alone makes it `script`: the script's rules)."""


class ScenarioRequest(ControlRequest):
    """`PUT /_emulator/orders/{order_id}/scenario`: the scenario the order follows from now on."""

    name: StrictStr = Field(min_length=1)


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace()
                                                                          for c in value):
        raise problem(INVALID)
    return value


def _secret_text(value: Any) -> Any:
    # Held as a `Secret` from the moment it is read, so that no repr of the body shows it.
    if isinstance(value, str):
        if not value.strip():
            raise problem(BLANK)
        return Secret(value)
    if value is None:
        raise PydanticCustomError("string_type", "expected a string")
    raise PydanticCustomError("string_type", "expected a string, got {got}",
                              {"got": type(value).__name__})  # fmt: skip


HttpUrl = Annotated[StrictStr, AfterValidator(_http_url),
                    WithJsonSchema({"type": "string", "format": "uri", "pattern": "^https?://"})]
SecretText = Annotated[Secret, BeforeValidator(_secret_text),
                       WithJsonSchema({"type": "string", "minLength": 1, "writeOnly": True})]


class CallbacksRequest(ControlRequest):
    """`PUT /_emulator/callbacks`: send the event callbacks to a retailer's endpoint. `events`:
    only these names (absent or null: all)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    url: HttpUrl
    token_url: HttpUrl
    client_id: NonBlank
    client_secret: SecretText
    events: Annotated[list[EventName], Field(min_length=1)] | None = None


class Answer(BaseModel):
    """A control-plane answer."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)


class Status(Answer):
    """`{"status": "ok"}`."""

    status: Literal["ok"] = "ok"


class Health(Answer):
    """`GET /_emulator/health`."""

    status: Literal["ok"] = "ok"
    version: str
    db: Literal["file", "memory"]
    seed: int
    now: Timestamp
    clock_frozen: bool
    shopper_enabled: bool


class Seed(Answer):
    """`POST /_emulator/seed`."""

    seed: int


class ClockView(Answer):
    """`GET /_emulator/clock`."""

    now: Timestamp
    frozen: bool
    next_shopper_action_at: Timestamp | None


class OrderScenario(Answer):
    """Which scenario an order follows, and where it is (`state` null: shopping has not started,
    or the scenario has no states: `script`, `off`)."""

    order_id: str
    name: str
    state: str | None
    since: Timestamp | None


class SampleMessageView(Answer):
    """A customer message a headless run sends in a scenario."""

    body: str
    image_url: str


class ScenarioInfo(Answer):
    """One scenario the scripted shopper can follow."""

    name: str
    summary: str
    start: str | None
    states: list[str]
    customer: list[SampleMessageView]
    finish: list[str]
    source: str


class ScenarioList(Answer):
    """`GET /_emulator/scenarios`: every scenario, and the one new orders follow."""

    default: str
    scenarios: list[ScenarioInfo]


class OrderDebug(Answer):
    """`GET /_emulator/orders/{order_id}`: the ids a real server keeps to itself, the scenario the
    scripted shopper follows on it, and the items as stored (with a `status`, and for `replaced`
    a `replacement_item`, once the shopper has updated one)."""

    order_id: str
    internal_id: int
    user_id: str
    customer_internal_id: int
    batch_id: int | None
    shopper_id: int | None
    workflow_state: str
    delivered_at: Timestamp | None
    canceled_at: Timestamp | None
    events: list[str]
    items: list[dict[str, Any]]
    scenario: OrderScenario


class InformationRemoval(Answer):
    """`POST /_emulator/orders/{order_id}/shopper_information_removal`."""

    order_id: str
    shopper_information_removal: bool


class FaultList(Answer):
    """`GET /_emulator/faults`."""

    faults: list[FaultRule]


class ShopperSettings(Answer):
    """`GET /_emulator/shopper`."""

    enabled: bool
    reply_delay: float | None
    script: ShopperScript
    scenario: str
    """The scenario new orders follow."""


class CallbackSettings(Answer):
    """`GET`, `PUT` and `DELETE /_emulator/callbacks`: where the events go, the client secret
    shown as `**********`; every field null when delivery is off."""

    url: str | None
    token_url: str | None
    client_id: str | None
    client_secret: str | None
    events: list[str] | None


class CallbackDeliveries(Answer):
    """`GET /_emulator/callbacks/deliveries`: the delivery log (one entry per attempt, oldest
    first, the last 1000) and how many deliveries are still pending."""

    deliveries: list[DeliveryAttempt]
    pending: int
