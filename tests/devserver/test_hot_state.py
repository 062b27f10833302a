"""Hot state in memory: a request that writes nothing reads the scripted shopper's schedule and its
token without SQL or parsing; the next request sees any write at once; with `--db`, a restarted
server loses nothing (the memory is only derived from the file)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from devserver_helpers import Api, Shopping, auth
from pydantic import ValidationError
from shopper_chat.devserver import start
from shopper_chat.devserver.exceptions import Unauthorized
from shopper_chat.devserver.models import ConnectBackend
from shopper_chat.devserver.records import ActionRecord, ConversationRecord, TokenRecord
from shopper_chat.devserver.store import Store, Table

START = "2026-01-15T17:00:00Z"
AT = datetime(2026, 1, 15, 17, tzinfo=timezone.utc)


def action(number: int, seconds: float = 60, kind: str = "reply") -> ActionRecord:
    return ActionRecord.model_validate(
        {"id": number, "kind": kind, "order_id": "order-1", "due": AT + timedelta(seconds=seconds)})


def asking(api: Api) -> Shopping:
    """An order of the `replacement` scenario waiting for the customer's answer: its pending
    action is a 10-minute timeout, which a frozen clock never fast-forwards."""
    api.create_order("user-1", "order-1")
    r = api.http.put("/_emulator/orders/order-1/scenario", json={"name": "replacement"})
    assert r.status_code == 200, r.text
    token = api.user_token("user-1")
    shopper_id = api.create_shopper(token)
    batch_id = api.create_batch(token, shopper_id, "order-1")
    assert api.advance(token, batch_id, "picking").status_code == 200
    api.messages(token, "order-1")  # the shopper's own turn, fast-forwarded: the question
    return Shopping("user-1", "order-1", token, shopper_id, batch_id)


def next_action(http: httpx.Client) -> Any:
    return http.get("/_emulator/clock").json()["next_shopper_action_at"]


@pytest.fixture()
def server() -> Iterator[Any]:
    with start(seed=5, clock=START, scenario="replacement") as running:
        yield running


# -- the store's memory -----------------------------------------------------------------------
def test_unchanging_records_are_parsed_once_per_write() -> None:
    store = Store()
    actions = store.table(ActionRecord)
    actions.insert(action(2, seconds=120))
    first = actions.children("pending")
    assert actions.children("pending") is first  # the same parsed list until a write
    key = action(2).key()
    assert actions.get(key) == first[0] and actions.get(key) is actions.get(key)
    actions.insert(action(1))
    again = actions.children("pending")
    assert [a.id for a in again] == [1, 2]  # a write is seen at once, in `due` order
    actions.delete(again[0])
    assert [a.id for a in actions.children("pending")] == [2]
    assert actions.get(action(1).key()) is None
    with pytest.raises(RuntimeError), store.transaction():
        actions.insert(action(3))
        assert [a.id for a in actions.children("pending")] == [3, 2]
        raise RuntimeError("refused")
    assert [a.id for a in actions.children("pending")] == [2]  # the rollback is seen too
    store.clear()
    assert actions.children("pending") == []


def test_shared_records_cannot_be_changed_and_others_are_never_shared() -> None:
    store = Store()
    actions, conversations = store.table(ActionRecord), store.table(ConversationRecord)
    actions.insert(action(1))
    with pytest.raises(ValidationError):
        actions.children("pending")[0].text = "changed"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        TokenRecord(token_hash="h", caller="client", user_id=None, scope="s", created_at=0,
                    expires_at=1).expires_at = 2  # type: ignore[misc]  # fmt: skip
    conversations.put(ConversationRecord(order_id="order-1", scenario="tutorial"))
    read = conversations.get("order-1")
    assert read is not None and read is not conversations.get("order-1")
    read.state = "changed, not stored"  # a changed copy is the caller's own
    stored = conversations.get("order-1")
    assert stored is not None and stored.state == ""


def test_a_key_that_is_not_stored_is_looked_up_again() -> None:
    store, reads = Store(), []
    assert store.kept("k", lambda: reads.append(1)) is None
    assert store.kept("k", lambda: reads.append(1)) is None
    assert len(reads) == 2
    assert store.kept("j", lambda: [len(reads)]) is store.kept("j", lambda: [])


# -- the server ---------------------------------------------------------------------------------
def test_a_request_that_writes_nothing_runs_no_sql_and_parses_nothing(
    server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend: ConnectBackend = server.backend
    with httpx.Client(base_url=server.base_url) as http:
        shop = asking(Api(http))
    due = backend.shopper.next_due()
    assert due is not None  # the timeout is pending
    backend.authenticate(shop.token)  # the first read after the last write
    statements: list[str] = []
    parsed: list[str] = []
    parse = Table.parse

    def counted(table: Table[Any], text: str) -> Any:
        parsed.append(text)
        return parse(table, text)

    monkeypatch.setattr(Table, "parse", counted)
    version = backend.store.version
    backend.store._conn.set_trace_callback(statements.append)
    try:
        for _ in range(3):
            assert backend.run_due_actions() == 0
            assert backend.shopper.next_due() == due
            assert backend.authenticate(shop.token).user_id == "user-1"
    finally:
        backend.store._conn.set_trace_callback(None)
    assert (statements, parsed, backend.store.version) == ([], [], version)


def test_writes_are_seen_by_the_next_request(server: Any) -> None:
    backend: ConnectBackend = server.backend
    with httpx.Client(base_url=server.base_url) as http:
        api = Api(http)
        shop = asking(api)
        waiting = next_action(http)
        assert waiting == "2026-01-15T17:10:30Z"  # 30 s to the question, then 600 to wait
        for _ in range(2):
            assert api.messages(shop.token, shop.order_id)
        # An action scheduled by a request runs at the next one.
        api.send(shop.token, shop.order_id, "No thanks").raise_for_status()
        texts = [m["body"] for m in api.messages(shop.token, shop.order_id)["chat_messages"]]
        assert "they'll be refunded" in texts[-1]
        # A token issued is known at once; one expired is refused though nothing was written.
        fresh = api.client_token()
        assert http.post("/v2/fulfillment_sandbox/shoppers", headers=auth(fresh)).status_code == 200
        version = backend.store.version
        backend.clock.advance(86400)
        with pytest.raises(Unauthorized, match="Expired access token"):
            backend.authenticate(fresh)
        assert backend.store.version == version
        # A reset drops the tokens and the schedule.
        http.post("/_emulator/reset", json={}).raise_for_status()
        r = http.get(f"/v2/post_checkout/chat/{shop.order_id}/messages", headers=auth(shop.token))
        assert r.status_code == 401 and r.json()["error"]["message"] == "Invalid access token"
        assert next_action(http) is None


def test_a_restart_on_the_same_db_keeps_the_schedule_and_the_tokens(tmp_path: Path) -> None:
    options = {"seed": 5, "clock": START, "scenario": "replacement", "db": tmp_path / "s.sqlite3"}
    with start(**options) as server, httpx.Client(base_url=server.base_url) as http:
        api = Api(http)
        shop = asking(api)
        waiting = next_action(http)
        before = api.messages(shop.token, shop.order_id)
    with start(**options) as server, httpx.Client(base_url=server.base_url) as http:
        api = Api(http)
        assert next_action(http) == waiting
        assert api.messages(shop.token, shop.order_id) == before
        http.post("/_emulator/clock", json={"advance_seconds": 600}).raise_for_status()
        texts = [m["body"] for m in api.messages(shop.token, shop.order_id)["chat_messages"]]
        assert "the store's default" in texts[-1]
        assert next_action(http) is None
