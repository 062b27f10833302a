"""Batch workflows as data: the states of each workflow, in order, and the moves they allow."""

from __future__ import annotations

from enum import Enum

__all__ = [
    "BATCH_TYPES",
    "CHAT_OPEN_STATES",
    "IllegalMove",
    "TRANSITIONS",
    "WORKFLOWS",
    "WorkflowState",
    "check_move",
    "next_state",
    "order_state",
]


class WorkflowState(str, Enum):
    """Every batch workflow state of the Sandbox API."""

    BRAND_NEW = "brand_new"
    ACKNOWLEDGED = "acknowledged"
    PICKING = "picking"
    VERIFYING_REPLACEMENTS = "verifying_replacements"
    CHECKOUT = "checkout"
    RECEIPT_SANITY_CHECK = "receipt_sanity_check"
    DELIVERING = "delivering"
    COMPLETED = "completed"
    BAGS_CHECK = "bags_check"
    STAGED = "staged"


S = WorkflowState
_DELIVERY = (
    S.BRAND_NEW, S.ACKNOWLEDGED, S.PICKING, S.VERIFYING_REPLACEMENTS, S.CHECKOUT,
    S.RECEIPT_SANITY_CHECK, S.DELIVERING, S.COMPLETED,
)  # fmt: skip
_PICKUP = (
    S.BRAND_NEW, S.ACKNOWLEDGED, S.PICKING, S.VERIFYING_REPLACEMENTS, S.CHECKOUT,
    S.RECEIPT_SANITY_CHECK, S.BAGS_CHECK, S.STAGED,
)  # fmt: skip

#: batch_type -> its states in order.
WORKFLOWS: dict[str, tuple[WorkflowState, ...]] = {
    "delivery": _DELIVERY,
    "delivery_only": _DELIVERY,
    "runner_customer": _DELIVERY,
    "pickup": _PICKUP,
}
BATCH_TYPES = tuple(WORKFLOWS)

#: batch_type -> allowed (from, to) moves: any move forward, skipping allowed.
TRANSITIONS: dict[str, frozenset[tuple[WorkflowState, WorkflowState]]] = {
    batch_type: frozenset(
        (states[i], states[j]) for i in range(len(states)) for j in range(i + 1, len(states))
    )
    for batch_type, states in WORKFLOWS.items()
}

#: States in which the customer and the shopper may chat (the batch has a shopper, not yet done).
CHAT_OPEN_STATES = frozenset(
    {S.BRAND_NEW, S.ACKNOWLEDGED, S.PICKING, S.VERIFYING_REPLACEMENTS, S.CHECKOUT,
     S.RECEIPT_SANITY_CHECK, S.DELIVERING, S.BAGS_CHECK}
)  # fmt: skip

#: Batch state -> the order's workflow_state where they differ.
_ORDER_STATE = {S.COMPLETED: "delivered"}


class IllegalMove(ValueError):
    """A move the workflow table does not allow (backwards, staying put, unknown state)."""


def _parse(batch_type: str, name: str) -> WorkflowState:
    try:
        state = WorkflowState(name)
    except ValueError:
        raise IllegalMove(f"is not a valid workflow state: {name}") from None
    if state not in WORKFLOWS[batch_type]:
        raise IllegalMove(f"is not a state of a {batch_type} batch: {name}")
    return state


def check_move(batch_type: str, current: str, target: str) -> WorkflowState:
    """The target state if `current -> target` is allowed, else `IllegalMove`."""
    state = _parse(batch_type, target)
    if (WorkflowState(current), state) not in TRANSITIONS[batch_type]:
        raise IllegalMove(f"cannot transition from {current} to {target}")
    return state


def initial_state(batch_type: str, requested: str | None) -> WorkflowState:
    """A new batch's state: `acknowledged`, or the requested state of its workflow."""
    if requested is None:
        return S.ACKNOWLEDGED
    return _parse(batch_type, requested)


def next_state(batch_type: str, current: str) -> WorkflowState:
    """The state after `current`, or `IllegalMove` at the end of the workflow."""
    states = WORKFLOWS[batch_type]
    index = states.index(WorkflowState(current))
    if index + 1 >= len(states):
        raise IllegalMove(f"cannot transition from {current}: the batch is {current}")
    return states[index + 1]


def order_state(batch_state: str) -> str:
    """The order's `workflow_state` for its batch's state."""
    return _ORDER_STATE.get(WorkflowState(batch_state), batch_state)


def is_past(batch_type: str, state: str, milestone: WorkflowState) -> bool:
    """True when `state` is `milestone` or later in the batch's workflow."""
    states = WORKFLOWS[batch_type]
    if milestone not in states:
        return False
    return states.index(WorkflowState(state)) >= states.index(milestone)
