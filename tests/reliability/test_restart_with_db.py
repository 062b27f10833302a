"""Kill `shopper-chat serve --db FILE` in the middle of a conversation and start it again on the
same file: nothing the server accepted is lost, nothing is doubled, ids keep increasing."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
from reliability_support import CLOCK, ServeProcess, client_kwargs
from shopper_chat import Client, tutorial
from shopper_chat.client.errors import ConnectError

USER, ORDER = "restart-customer", "restart-order"
SENDS = 30


def test_nothing_accepted_is_lost_when_the_server_is_killed_and_restarted(
    tmp_path: Path,
) -> None:
    db = tmp_path / "chat.db"
    args = ["--seed", "5", "--clock", CLOCK, "--db", str(db)]
    server = ServeProcess(args).start()
    client = Client(server.base_url, **client_kwargs(), timeout=3, max_retries=10,
                    max_retry_seconds=30)
    accepted: list[tuple[int, str]] = []
    failed: list[str] = []
    shopper_posts: list[tuple[int, str]] = []
    errors: list[str] = []
    try:
        tutorial.create_order(client, user_id=USER, order_id=ORDER)
        tutorial.start_shopping(client, ORDER, USER)
        client.set_user(USER)
        before_kill = threading.Event()

        def talk() -> None:
            for i in range(SENDS):
                text = f"customer message {i}"
                try:
                    accepted.append((client.chat.send(ORDER, text).id, text))
                except ConnectError as exc:
                    failed.append(text)  # the outcome is unknown to the caller
                    errors.append(f"{text}: {type(exc).__name__}: {exc}")
                except Exception as exc:  # pragma: no cover - reported by the assertions
                    errors.append(f"{text}: unexpected {type(exc).__name__}: {exc}")
                    return
                if len(accepted) == 10:
                    before_kill.set()
                time.sleep(0.01)

        talker = threading.Thread(target=talk, name="restart-talker")
        talker.start()
        assert before_kill.wait(30)
        for i in range(3):  # the shopper answers too, right before the crash
            answer = httpx.post(f"{server.base_url}/_emulator/orders/{ORDER}/shopper_messages",
                                json={"body": f"shopper message {i}"}, timeout=5)
            answer.raise_for_status()
            shopper_posts.append((answer.json()["id"], f"shopper message {i}"))
        server.kill()
        accepted_before_kill = len(accepted)
        time.sleep(0.3)
        server = ServeProcess(args, port=server.port).start()
        talker.join(timeout=120)
        assert not talker.is_alive()
        assert len(accepted) + len(failed) == SENDS, errors

        note = f"errors: {errors}; accepted {len(accepted)} ({accepted_before_kill} before)"
        conversation = client.chat.messages(ORDER).chat_messages
        stored = [(m.id, m.body) for m in conversation]
        ids = [m.id for m in conversation]
        assert ids == sorted(set(ids)), "ids repeat or go backwards after the restart"
        for entry in accepted + shopper_posts:
            assert entry in stored, f"accepted, then lost after the restart: {entry}; {note}"
        customer_bodies = [m.body for m in conversation if m.from_customer]
        assert len(customer_bodies) == len(set(customer_bodies)), f"stored twice; {note}"
        assert set(customer_bodies) <= {f"customer message {i}" for i in range(SENDS)}
        assert len(accepted) > accepted_before_kill, f"nothing accepted after restart; {note}"

        # The conversation goes on: a new message gets a larger id than everything before.
        after = client.chat.send(ORDER, "after the restart")
        assert after.id > max(ids)
    finally:
        client.close()
        server.stop()


def test_timestamps_never_go_backwards_across_a_restart(tmp_path: Path) -> None:
    """A restart on the same `--db` with the same `--clock` must not give new messages an
    earlier `created_at` than the messages already stored (clients order by time too)."""
    db = tmp_path / "clock.db"
    args = ["--seed", "5", "--clock", CLOCK, "--db", str(db), "--no-shopper"]
    server = ServeProcess(args).start()
    try:
        with Client(server.base_url, **client_kwargs(), timeout=5) as client:
            tutorial.create_order(client, user_id=USER, order_id=ORDER)
            tutorial.start_shopping(client, ORDER, USER)
            client.set_user(USER)
            client.chat.send(ORDER, "before")
            httpx.post(f"{server.base_url}/_emulator/clock", json={"advance_seconds": 3600},
                       timeout=5).raise_for_status()
            client.chat.send(ORDER, "an hour later")
        server.stop()
        server = ServeProcess(args, port=server.port).start()
        with Client(server.base_url, **client_kwargs(), timeout=5) as client:
            client.set_user(USER)
            client.chat.send(ORDER, "after the restart")
            messages = client.chat.messages(ORDER).chat_messages
        times = [m.created_at for m in messages]
        assert [m.body for m in messages] == ["before", "an hour later", "after the restart"]
        assert times == sorted(times), [f"{m.id} {m.created_at:%H:%M:%S} {m.body}"
                                        for m in messages]
    finally:
        server.stop()
