"""Batch workflows as data: the contract's states per batch type, and the moves they allow."""

from __future__ import annotations

from enum import Enum

from shopper_chat import contract

__all__ = [
    "BATCH_TYPES",
    "CHAT_OPEN_STATES",
    "IllegalMove",
    "TRANSITIONS",
    "WORKFLOWS",
    "WorkflowState",
    "check_move",
    "initial_state",
    "is_past",
    "next_state",
    "order_state",
    "passed",
]

WorkflowState = Enum(  # type: ignore[misc]  # members come from the contract
    "WorkflowState", {name.upper(): name for name in contract.BATCH_WORKFLOW_STATES}, type=str
)
"""Every batch workflow state of the Sandbox API (`WorkflowState("picking").value`)."""

BATCH_TYPES: tuple[str, ...] = contract.BATCH_TYPES

#: batch_type -> its states in order.
WORKFLOWS: dict[str, tuple[WorkflowState, ...]] = {
    batch_type: tuple(WorkflowState(name) for name in states)
    for batch_type, states in contract.WORKFLOWS.items()
}

#: batch_type -> allowed (from, to) moves: any move forward, skipping allowed.
TRANSITIONS: dict[str, frozenset[tuple[WorkflowState, WorkflowState]]] = {
    batch_type: frozenset(
        (states[i], states[j]) for i in range(len(states)) for j in range(i + 1, len(states))
    )
    for batch_type, states in WORKFLOWS.items()
}

#: States in which the customer and the shopper may chat (the batch has a shopper, not yet done).
CHAT_OPEN_STATES: frozenset[WorkflowState] = frozenset(
    WorkflowState(name) for name in contract.CHAT_OPEN_STATES
)

#: Batch state -> the order's workflow_state where they differ.
_ORDER_STATE: dict[str, contract.OrderWorkflowState] = {"completed": "delivered"}


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
    return _parse(batch_type, "acknowledged" if requested is None else requested)


def next_state(batch_type: str, current: str) -> WorkflowState:
    """The state after `current`, or `IllegalMove` at the end of the workflow."""
    states = WORKFLOWS[batch_type]
    index = states.index(WorkflowState(current))
    if index + 1 >= len(states):
        raise IllegalMove(f"cannot transition from {current}: the batch is {current}")
    return states[index + 1]


def order_state(batch_state: contract.BatchWorkflowState) -> contract.OrderWorkflowState:
    """The order's `workflow_state` for its batch's state."""
    return _ORDER_STATE.get(batch_state, batch_state)


def is_past(batch_type: str, state: str, milestone: str) -> bool:
    """True when `state` is `milestone` or later in the batch's workflow."""
    states = [s.value for s in WORKFLOWS[batch_type]]
    return milestone in states and states.index(state) >= states.index(milestone)


def passed(batch_type: str, previous: str, state: str) -> list[str]:
    """The states a move from `previous` to `state` goes through, `state` included, in order (a
    skip passes the states between)."""
    states = [s.value for s in WORKFLOWS[batch_type]]
    return states[states.index(previous) + 1:states.index(state) + 1]
