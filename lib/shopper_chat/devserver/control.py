"""The control plane's bodies (under `/_emulator/`, never part of Connect): requests and answers.

Unlike Connect, the control plane refuses unknown fields ("is not a known field"): a typo there
would silently change a test.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from shopper_chat.contract import MessageRequest, OptionalText, Timestamp

from .faults import FaultRule
from .shopper import ShopperScript

__all__ = [
    "AddFaultRequest",
    "ClockRequest",
    "ClockView",
    "EmptyRequest",
    "FaultList",
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

class ControlRequest(BaseModel):
    """A control-plane request body: strict types, unknown fields refused."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class EmptyRequest(ControlRequest):
    """`POST /_emulator/reset`: no fields."""


class SeedRequest(ControlRequest):
    """`POST /_emulator/seed`."""

    seed: StrictInt = Field(ge=0)


class ClockRequest(ControlRequest):
    """`POST /_emulator/clock`: exactly one of the three."""

    now: Timestamp | None = None
    advance_seconds: float | None = Field(default=None, ge=0, allow_inf_nan=False)
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
    status: StrictInt | None = Field(default=None, ge=400, le=599)
    retry_after: StrictInt | None = Field(default=None, ge=0)
    latency_ms: StrictInt = Field(default=0, ge=0, le=60_000)
    drop: StrictBool = False
    probability: float = Field(default=1.0, ge=0, le=1, allow_inf_nan=False)
    times: StrictInt | None = Field(default=None, ge=1)


class ShopperRequest(ControlRequest):
    """`PUT /_emulator/shopper`: the script's keys are merged over the current script."""

    enabled: StrictBool | None = None
    script: dict[StrictStr, Any] | None = None
    reply_delay: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    scenario: StrictStr | None = None
    """The scenario of new orders (a `script` alone makes it `script`: the script's rules)."""


class ScenarioRequest(ControlRequest):
    """`PUT /_emulator/orders/{order_id}/scenario`: the scenario the order follows from now on."""

    name: StrictStr = Field(min_length=1)


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
