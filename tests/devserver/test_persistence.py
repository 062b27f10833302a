"""--db: a file that keeps users, orders, messages, tokens and the id sequence across restarts."""

from __future__ import annotations

from pathlib import Path

import httpx
from devserver_helpers import Api, auth
from shopper_chat.devserver import start


def test_state_survives_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite3"
    with (
        start(seed=5, clock="2026-01-15T17:00:00Z", db=db) as server,
        httpx.Client(base_url=server.base_url) as http,
    ):
        api = Api(http)
        shop = api.shopping()
        sent = api.send(shop.token, shop.order_id, "Please pick ripe avocados").json()
        before = api.messages(shop.token, shop.order_id)
    assert (tmp_path / "state.sqlite3-wal").exists() or db.stat().st_size > 0

    with (
        start(seed=5, clock="2026-01-15T17:00:00Z", db=db) as server,
        httpx.Client(base_url=server.base_url) as http,
    ):
        api = Api(http)
        # The old token still works; everything accepted is there.
        after = api.messages(shop.token, shop.order_id)
        assert after == before
        assert any(m["id"] == sent["id"] for m in after["chat_messages"])
        r = http.get(f"/v2/post_checkout/orders/{shop.order_id}", headers=auth(shop.token))
        assert r.json()["workflow_state"] == "picking"
        # The id sequence continues instead of starting over.
        newer = api.send(shop.token, shop.order_id, "and limes").json()
        assert newer["id"] > max(m["id"] for m in after["chat_messages"])
        assert api.create_shopper(shop.token) != shop.shopper_id


def test_time_never_goes_backwards_across_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "clock.sqlite3"
    options = {"seed": 5, "clock": "2026-01-15T17:00:00Z", "db": db, "shopper": False}
    with start(**options) as server, httpx.Client(base_url=server.base_url) as http:
        shop = Api(http).shopping()
        http.post("/_emulator/clock", json={"advance_seconds": 3600}).raise_for_status()
        Api(http).send(shop.token, shop.order_id, "an hour later")
    with start(**options) as server, httpx.Client(base_url=server.base_url) as http:
        assert http.get("/_emulator/clock").json()["now"] == "2026-01-15T18:00:00Z"
        sent = Api(http).send(shop.token, shop.order_id, "after the restart").json()
        assert sent["created_at"] == "2026-01-15T18:00:00Z"


def test_a_file_of_an_earlier_version_is_refused_with_a_sentence(tmp_path: Path) -> None:
    import sqlite3

    import pytest
    from shopper_chat.devserver.store import Store

    db = tmp_path / "old.sqlite3"
    Store(str(db)).close()
    with sqlite3.connect(db) as conn:  # what the dictionaries of format 1 left behind
        conn.execute("DELETE FROM meta")
        conn.execute("INSERT INTO records (kind, id, data) VALUES ('user', 'u', '{}')")
    with pytest.raises(ValueError, match="earlier shopper-chat"):
        start(db=db)


def test_a_file_held_by_a_running_server_is_refused_in_process_too(tmp_path: Path) -> None:
    import pytest
    from shopper_chat.devserver.store import DatabaseInUse

    db = tmp_path / "held.sqlite3"
    with start(db=db) as server:
        httpx.post(f"{server.base_url}/_emulator/seed", json={"seed": 5}).raise_for_status()
        with pytest.raises(DatabaseInUse, match="held.sqlite3 is in use by another"):
            start(db=db)
    with start(db=db) as server:  # stopped: free again, with what the first one stored
        assert httpx.get(f"{server.base_url}/_emulator/health").json()["seed"] == 5


def test_unread_messages_are_found_after_a_restart_even_in_a_file_without_the_index(
    tmp_path: Path,
) -> None:
    import sqlite3

    db = tmp_path / "unread.sqlite3"
    options = {"seed": 5, "clock": "2026-01-15T17:00:00Z", "db": db, "shopper": False}
    with start(**options) as server, httpx.Client(base_url=server.base_url) as http:
        shop = Api(http).shopping()
        for body in ("found the limes", "no ripe avocados"):
            http.post(f"/_emulator/orders/{shop.order_id}/shopper_messages",
                      json={"body": body}).raise_for_status()  # fmt: skip
        Api(http).send(shop.token, shop.order_id, "thanks")
    # A file written before the index of unread messages existed: opening it builds the index.
    with sqlite3.connect(db) as conn:
        conn.execute("DROP INDEX records_unread")
    with start(**options) as server, httpx.Client(base_url=server.base_url) as http:
        url = f"/v2/post_checkout/chat/{shop.order_id}/messages"
        assert http.put(url, headers=auth(shop.token)).json() == {"messages_read_count": 2}
        messages = Api(http).messages(shop.token, shop.order_id)["chat_messages"]
        assert [m["read"] for m in messages] == [True, True, False]
    with start(**options) as server, httpx.Client(base_url=server.base_url) as http:
        assert http.put(url, headers=auth(shop.token)).json() == {"messages_read_count": 0}
