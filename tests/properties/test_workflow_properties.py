"""The batch workflow table: any sequence of advances moves forward only, as the table says."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from properties_support import new_backend, order_in_picking
from shopper_chat.devserver import workflow
from shopper_chat.devserver.exceptions import InvalidParameter, ResourceNotFound

ALL_STATES = [s.value for s in workflow.WorkflowState]
# Targets an advance may name: every state, None (the next one), and names that are no state.
TARGETS = st.one_of(st.none(), st.sampled_from(ALL_STATES),
                    st.sampled_from(["", "Picking", "delivered", "canceled", "unknown"]))
FAST = settings(max_examples=60, derandomize=True, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(batch_type=st.sampled_from(workflow.BATCH_TYPES),
       moves=st.lists(st.sampled_from(ALL_STATES + ["nowhere"]), max_size=20))
def test_check_move_allows_exactly_the_forward_moves(batch_type: str, moves: list[str]) -> None:
    states = [s.value for s in workflow.WORKFLOWS[batch_type]]
    current = "acknowledged"
    for target in moves:
        allowed = target in states and states.index(target) > states.index(current)
        try:
            moved = workflow.check_move(batch_type, current, target)
        except workflow.IllegalMove:
            assert not allowed, (current, target)
        else:
            assert allowed, (current, target)
            assert moved.value == target
            assert (workflow.WorkflowState(current), moved) in workflow.TRANSITIONS[batch_type]
            current = target


@pytest.mark.parametrize("batch_type", workflow.BATCH_TYPES)
def test_next_state_walks_the_whole_workflow_then_refuses(batch_type: str) -> None:
    states = workflow.WORKFLOWS[batch_type]
    current = states[0]
    walked = [current]
    while True:
        try:
            current = workflow.next_state(batch_type, current.value)
        except workflow.IllegalMove:
            break
        walked.append(current)
    assert tuple(walked) == states


@FAST
@given(batch_type=st.sampled_from(workflow.BATCH_TYPES),
       start=st.sampled_from([None, "brand_new", "acknowledged", "picking", "checkout"]),
       targets=st.lists(TARGETS, max_size=15), as_customer=st.booleans())
def test_any_advance_sequence_through_the_backend_follows_the_table(
    batch_type: str, start: str | None, targets: list[str | None], as_customer: bool
) -> None:
    """Accepted exactly when the table allows it; a refusal is 400/1001 `workflow_state` and
    changes nothing; the order's status follows its batch."""
    backend = new_backend(shopper=False)
    order = order_in_picking(backend, batch_type=batch_type, advance_to=None, batch_state=start)
    caller = order.customer if as_customer else order.retailer
    states = [s.value for s in workflow.WORKFLOWS[batch_type]]
    current = start or "acknowledged"
    for target in targets:
        if target is None:
            allowed = states.index(current) + 1 < len(states)
            expected = states[states.index(current) + 1] if allowed else current
        else:
            allowed = target in states and states.index(target) > states.index(current)
            expected = target if allowed else current
        try:
            answer = backend.advance_batch(caller, order.batch_id, target)
        except InvalidParameter as exc:
            assert not allowed, (current, target)
            assert (exc.status_code, exc.code, exc.key) == (400, 1001, "workflow_state")
        else:
            assert allowed, (current, target)
            assert (answer.id, answer.workflow_state) == (order.batch_id, expected)
        current = expected
        status = backend.get_order_status(order.customer, order.order_id)
        assert status.workflow_state == workflow.order_state(current)


@settings(max_examples=20, derandomize=True, deadline=None)
@given(batch_id=st.integers(min_value=0, max_value=10**18), target=TARGETS)
def test_advancing_an_unknown_batch_is_not_found(batch_id: int, target: str | None) -> None:
    backend = new_backend(shopper=False)
    order = order_in_picking(backend)
    if batch_id == order.batch_id:
        return
    with pytest.raises(ResourceNotFound):
        backend.advance_batch(order.retailer, batch_id, target)


def test_another_customers_token_cannot_advance_the_batch() -> None:
    backend = new_backend(shopper=False)
    mine = order_in_picking(backend)
    other = order_in_picking(backend, user_id="customer-2", order_id="order-2")
    with pytest.raises(ResourceNotFound):
        backend.advance_batch(other.customer, mine.batch_id, None)
    assert backend.get_order_status(mine.customer, mine.order_id).workflow_state == "picking"
