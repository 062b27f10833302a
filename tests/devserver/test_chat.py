"""Chat: every documented error and decision of GET/POST/PUT, read counts, expiry, internal ids."""

from __future__ import annotations

import pytest
from devserver_helpers import Api, assert_error, auth


@pytest.fixture()
def quiet(api: Api) -> Api:
    """The scripted shopper switched off, so that only the test's messages exist."""
    api.http.put("/_emulator/shopper", json={"enabled": False}).raise_for_status()
    return api


def _shopper_says(
    api: Api, order_id: str, body: str = "", image_url: str = ""
) -> dict[str, object]:
    r = api.http.post(f"/_emulator/orders/{order_id}/shopper_messages",
                      json={"body": body, "image_url": image_url})  # fmt: skip
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_post_text_image_or_both(quiet: Api) -> None:
    shop = quiet.shopping()
    assert quiet.send(shop.token, shop.order_id, "text only").status_code == 200
    r = quiet.send(shop.token, shop.order_id, "", "https://example.com/a.jpg")
    assert r.status_code == 200
    url = f"/v2/post_checkout/chat/{shop.order_id}/messages"
    r = quiet.http.post(
        url, headers=auth(shop.token), json={"image_url": "http://example.com/b.png"}
    )
    assert r.status_code == 200
    assert (
        quiet.send(shop.token, shop.order_id, "both", "https://example.com/c.jpg").status_code
        == 200
    )
    messages = quiet.messages(shop.token, shop.order_id)["chat_messages"]
    assert [(m["body"], m["image"]) for m in messages] == [
        ("text only", ""), ("", "https://example.com/a.jpg"), ("", "http://example.com/b.png"),
        ("both", "https://example.com/c.jpg"),
    ]  # fmt: skip


def test_post_errors(quiet: Api) -> None:
    shop = quiet.shopping()
    url = f"/v2/post_checkout/chat/{shop.order_id}/messages"
    h = auth(shop.token)
    body = assert_error(quiet.send(shop.token, shop.order_id, "x" * 1001), 400, 1001, "body")
    assert body["error"]["message"] == "is too long (maximum is 1000 characters)"
    assert quiet.send(shop.token, shop.order_id, "x" * 1000).status_code == 200
    body = assert_error(quiet.send(shop.token, shop.order_id, "", ""), 400, 1001, "body")
    assert body["error"]["message"] == "can't be blank"
    assert_error(quiet.http.post(url, headers=h, json={}), 400, 1001, "body")
    body = assert_error(quiet.send(shop.token, shop.order_id, "hi", "ftp://x/y.png"), 400, 1001,
                        "image_url")  # fmt: skip
    assert body["error"]["message"] == "is invalid"
    assert_error(quiet.http.post(url, headers=h, json={"body": 5}), 400, 1001, "body")
    assert_error(quiet.http.post(url, headers=h, content=b"{not json"), 400, 1001, "body")
    assert_error(quiet.http.post(url, headers=h, json=["a"]), 400, 1001, "body")
    assert_error(quiet.send(shop.token, "nope", "hi"), 404, 4000)
    assert len(quiet.messages(shop.token, shop.order_id)["chat_messages"]) == 1


def test_403_before_a_shopper_and_after_delivery_or_cancel(quiet: Api) -> None:
    quiet.create_order("u", "o")
    token = quiet.user_token("u")
    body = assert_error(quiet.send(token, "o", "anyone there?"), 403, None)
    assert body["error"]["message"] == "Sending a message is not allowed at this time"
    r = quiet.http.post("/_emulator/orders/o/shopper_messages", json={"body": "hello"})
    assert_error(r, 403, None)
    empty = quiet.messages(token, "o")
    assert empty["chat_messages"] == [] and empty["metadata"]["shoppers"] == []
    batch = quiet.create_batch(token, quiet.create_shopper(token), "o")
    assert quiet.send(token, "o", "now?").status_code == 200
    quiet.advance(token, batch, "completed")
    assert_error(quiet.send(token, "o", "thanks!"), 403, None)

    quiet.create_order("u", "o2")
    quiet.create_batch(token, quiet.create_shopper(token), "o2")
    quiet.http.post("/v2/fulfillment_sandbox/orders/o2/callbacks", headers=auth(token),
                    json={"event_name": "canceled"})  # fmt: skip
    assert_error(quiet.send(token, "o2", "hello?"), 403, None)


@pytest.mark.parametrize("ending", ["completed", "canceled"])
def test_messages_expire_24_hours_after_delivery_or_cancel(quiet: Api, ending: str) -> None:
    shop = quiet.shopping()
    quiet.send(shop.token, shop.order_id, "hello")
    if ending == "completed":
        quiet.advance(shop.token, shop.batch_id, "completed")
    else:
        quiet.http.post(f"/v2/fulfillment_sandbox/orders/{shop.order_id}/callbacks",
                        headers=auth(shop.token), json={"event_name": "canceled"})  # fmt: skip
    quiet.http.post("/_emulator/clock", json={"advance_seconds": 86399})
    token = quiet.user_token(shop.user_id)
    data = quiet.messages(token, shop.order_id)
    assert len(data["chat_messages"]) == 1 and data["metadata"]["is_expired"] is False
    quiet.http.post("/_emulator/clock", json={"advance_seconds": 1})
    data = quiet.messages(token, shop.order_id)
    assert data["chat_messages"] == [] and data["metadata"]["is_expired"] is True


def test_mark_read_counts_shopper_messages_and_sets_read_at(quiet: Api) -> None:
    shop = quiet.shopping()
    url = f"/v2/post_checkout/chat/{shop.order_id}/messages"
    _shopper_says(quiet, shop.order_id, "one")
    _shopper_says(quiet, shop.order_id, "two", "https://example.com/p.jpg")
    quiet.send(shop.token, shop.order_id, "mine")
    quiet.http.post("/_emulator/clock", json={"advance_seconds": 60})
    assert quiet.http.put(url, headers=auth(shop.token)).json() == {"messages_read_count": 2}
    assert quiet.http.put(url, headers=auth(shop.token)).json() == {"messages_read_count": 0}
    messages = quiet.messages(shop.token, shop.order_id)["chat_messages"]
    shopper = [m for m in messages if m["sender_type"] == "driver"]
    assert all(m["read"] and m["read_at"] == "2026-01-15T17:01:00Z" for m in shopper)
    customer = [m for m in messages if m["sender_type"] == "user"]
    assert customer[0]["read"] is False and customer[0]["read_at"] is None
    assert_error(quiet.http.put("/v2/post_checkout/chat/nope/messages", headers=auth(shop.token)),
                 404, 4000)  # fmt: skip


def test_treat_ids_as_internal(quiet: Api) -> None:
    shop = quiet.shopping()
    internal = quiet.http.get(f"/_emulator/orders/{shop.order_id}").json()["internal_id"]
    _shopper_says(quiet, shop.order_id, "hello")
    h = {**auth(shop.token), "X-Treat-Ids-As-Internal": "true"}
    url = f"/v2/post_checkout/chat/{internal}/messages"
    data = quiet.http.get(url, headers=h).json()
    assert data["chat_messages"][0]["order_id"] == internal
    assert quiet.http.post(url, headers=h, json={"body": "hi", "image_url": ""}).status_code == 200
    assert quiet.http.put(url, headers=h).json() == {"messages_read_count": 1}
    # Without the header the internal id is not an order id; with it, the retailer's id is not.
    assert_error(quiet.http.get(url, headers=auth(shop.token)), 404, 4000)
    assert_error(quiet.http.get(f"/v2/post_checkout/chat/{shop.order_id}/messages", headers=h),
                 404, 4000)  # fmt: skip


def test_shopper_information_removal_gives_403(quiet: Api) -> None:
    shop = quiet.shopping()
    quiet.http.post(f"/_emulator/orders/{shop.order_id}/shopper_information_removal",
                    json={"enabled": True}).raise_for_status()  # fmt: skip
    r = quiet.http.get(f"/v2/post_checkout/chat/{shop.order_id}/messages", headers=auth(shop.token))
    assert_error(r, 403, None)


def test_shopper_message_route(quiet: Api) -> None:
    shop = quiet.shopping()
    message = _shopper_says(quiet, shop.order_id, "Found everything!", "https://example.com/x.jpg")
    assert message["sender_type"] == "driver" and message["sender_id"] == str(shop.shopper_id)
    assert message["image"] == "https://example.com/x.jpg"
    r = quiet.http.post("/_emulator/orders/nope/shopper_messages", json={"body": "x"})
    assert_error(r, 404, 4000)
    r = quiet.http.post(f"/_emulator/orders/{shop.order_id}/shopper_messages", json={"bdy": "x"})
    assert_error(r, 400, 1001, "bdy")


def test_a_conversation_is_written_as_canonical_json_and_follows_each_change(quiet: Api) -> None:
    # The GET reuses each unchanged message's JSON text: it must be the JSON of the message as
    # it is now (read or not), written as the rest of the API writes JSON.
    import json

    shop = quiet.shopping()
    quiet.send(shop.token, shop.order_id, 'Ünïcode "quotes" \\ and\nlines ✓')
    _shopper_says(quiet, shop.order_id, "One moment…")
    url = f"/v2/post_checkout/chat/{shop.order_id}/messages"
    first = quiet.http.get(url, headers=auth(shop.token))
    assert first.headers["content-type"] == "application/json"
    document = json.loads(first.text)
    assert first.text == json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    assert [m["read"] for m in document["chat_messages"]] == [False, False]
    assert document["chat_messages"][0]["body"] == 'Ünïcode "quotes" \\ and\nlines ✓'
    assert quiet.http.put(url, headers=auth(shop.token)).json() == {"messages_read_count": 1}
    again = json.loads(quiet.http.get(url, headers=auth(shop.token)).text)
    assert [m["read"] for m in again["chat_messages"]] == [False, True]
    assert again["chat_messages"][1]["read_at"] is not None
    assert again["metadata"] == document["metadata"]


@pytest.mark.parametrize(
    ("body", "image_url", "verdict"),
    [
        ("hi", "HTTPS://example.com/a.png", ("image_url", "is invalid")),
        ("hi", "http://", ("image_url", "is invalid")),
        ("hi", "https://a b", ("image_url", "is invalid")),
        ("x" * 1000, "", None),
        ("x" * 1001, "", ("body", "is too long (maximum is 1000 characters)")),
        ("", "", ("body", "can't be blank")),
        ("", "https://example.com/a.png", None),
    ],
)
def test_the_contracts_message_verdicts(
    quiet: Api, body: str, image_url: str, verdict: tuple[str, str] | None
) -> None:
    shop = quiet.shopping()
    answer = quiet.send(shop.token, shop.order_id, body, image_url)
    if verdict is None:
        assert answer.status_code == 200, answer.text
    else:
        key, message = verdict
        assert assert_error(answer, 400, 1001, key)["error"]["message"] == message


def test_text_too_long_and_a_bad_image_are_both_listed_in_a_9999(quiet: Api) -> None:
    shop = quiet.shopping()
    answer = quiet.send(shop.token, shop.order_id, "x" * 1001, "https://a b")
    assert answer.status_code == 400
    assert answer.json() == {
        "error": {
            "message": "There were issues with your request",
            "code": 9999,
            "errors": [
                {"error": {"message": "is too long (maximum is 1000 characters)", "code": 1001},
                 "meta": {"key": "body"}},
                {"error": {"message": "is invalid", "code": 1001}, "meta": {"key": "image_url"}},
            ],
        },
        "meta": {},
    }  # fmt: skip
    assert quiet.messages(shop.token, shop.order_id)["chat_messages"] == []


def test_post_checks_the_order_before_the_fields_and_the_fields_before_chat_closed(
    quiet: Api,
) -> None:
    quiet.create_order("u", "o")  # no batch yet: chat closed
    token = quiet.user_token("u")
    assert_error(quiet.send(token, "nope", "x" * 1001), 404, 4000)
    assert_error(quiet.send(token, "o", "x" * 1001), 400, 1001, "body")
    assert_error(quiet.send(token, "o", "hi"), 403, None)


def test_a_chat_get_is_byte_for_byte_the_conversation_models_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The GET reuses each message's JSON; with room for only two, the cache is trimmed on every
    # GET, and the answer must still be what the contract's model writes.
    import httpx
    from shopper_chat.devserver import start
    from shopper_chat.devserver.responses import Conversations

    monkeypatch.setattr(Conversations, "LIMIT", 2)
    with (
        start(seed=1, clock="2026-01-15T17:00:00Z", shopper=False) as server,
        httpx.Client(base_url=server.base_url) as http,
    ):
        api = Api(http)
        shop = api.shopping()
        url = f"/v2/post_checkout/chat/{shop.order_id}/messages"
        caller = server.backend.authenticate(shop.token)
        for text in ("one", "two ✓", 'three "quoted"'):
            api.send(shop.token, shop.order_id, text)
            _shopper_says(api, shop.order_id, text.upper())
            for _ in range(2):
                expected = server.backend.list_messages(caller, shop.order_id, False)
                assert http.get(url, headers=auth(shop.token)).text == expected.model_dump_json()
        http.put(url, headers=auth(shop.token))
        expected = server.backend.list_messages(caller, shop.order_id, False)
        assert http.get(url, headers=auth(shop.token)).text == expected.model_dump_json()


def test_mark_read_reads_only_the_unread_rows_of_one_side() -> None:
    # The writes' cost must not grow with the conversation (benchmarks/write_growth.py): SQLite
    # answers the unread messages of one sender from the partial index, not a scan of the order.
    import sqlite3

    from shopper_chat.devserver.store import _SCHEMA, _UNREAD

    conn = sqlite3.connect(":memory:")
    conn.executescript(_SCHEMA)
    plan = conn.execute("EXPLAIN QUERY PLAN " + _UNREAD, ("message", "1", "driver")).fetchall()
    assert "USING INDEX records_unread" in " ".join(str(row[3]) for row in plan)


def test_a_kept_answer_expires_with_the_chat_and_the_token_on_a_moving_clock() -> None:
    # The chat GET keeps its answer until the next write; time moving with no write (a real
    # clock) must still expire the chat 24 h after delivery, and the token at its end.
    import httpx
    from shopper_chat.devserver import start

    with start(seed=7, clock="2026-01-15T17:00:00Z", shopper=False) as server, \
            httpx.Client(base_url=server.base_url, timeout=10) as http:  # fmt: skip
        api = Api(http)
        shop = api.shopping()
        api.send(shop.token, shop.order_id, "hello")
        api.advance(shop.token, shop.batch_id, "completed")
        http.post("/_emulator/clock", json={"advance_seconds": 86000}).raise_for_status()
        token = api.user_token(shop.user_id)
        assert api.messages(token, shop.order_id)["metadata"]["is_expired"] is False
        server.backend.clock.advance(399)  # the clock moves; the store is not written
        assert api.messages(token, shop.order_id)["metadata"]["is_expired"] is False
        server.backend.clock.advance(1)
        data = api.messages(token, shop.order_id)
        assert data["chat_messages"] == [] and data["metadata"]["is_expired"] is True
        server.backend.clock.advance(86400 * 30)
        r = http.get(f"/v2/post_checkout/chat/{shop.order_id}/messages", headers=auth(token))
        assert r.status_code == 401, r.text


def test_a_kept_answer_follows_the_shoppers_name_and_every_write(quiet: Api) -> None:
    shop = quiet.shopping()
    first = quiet.messages(shop.token, shop.order_id)
    quiet.http.put("/_emulator/shopper",
                   json={"script": {"display_name": "Robin"}}).raise_for_status()  # fmt: skip
    again = quiet.messages(shop.token, shop.order_id)
    assert [s["display_name"] for s in again["metadata"]["shoppers"]] == ["Robin"] != [
        s["display_name"] for s in first["metadata"]["shoppers"]]
    _shopper_says(quiet, shop.order_id, "found it")
    url = f"/v2/post_checkout/chat/{shop.order_id}/messages"
    assert [m["read"] for m in quiet.messages(shop.token, shop.order_id)["chat_messages"]] == [
        False]
    quiet.http.put(url, headers=auth(shop.token)).raise_for_status()
    assert [m["read"] for m in quiet.messages(shop.token, shop.order_id)["chat_messages"]] == [
        True]


def test_kept_answers_are_bounded_in_count_and_bytes() -> None:
    from shopper_chat.devserver.responses import ChatAnswers, _Answer

    answers = ChatAnswers()
    answers.MAX_BYTES = 10
    script = object()
    answers.put(("t", "o", False), _Answer(b"123456", 1, script, float("inf")))
    assert answers.get(("t", "o", False), 1, script, 0.0) == b"123456"
    assert answers.get(("t", "o", False), 2, script, 0.0) is None  # the store was written
    assert answers.get(("t", "o", False), 1, object(), 0.0) is None  # another script
    answers.put(("t", "o", False), _Answer(b"1234567", 1, script, 5.0))  # replaces: 7 bytes
    assert answers.get(("t", "o", False), 1, script, 4.9) == b"1234567"
    assert answers.get(("t", "o", False), 1, script, 5.0) is None  # expired
    answers.put(("u", "o", False), _Answer(b"1234", 1, script, 5.0))  # 11 bytes: drop the rest
    assert answers.get(("t", "o", False), 1, script, 0.0) is None
    assert answers.get(("u", "o", False), 1, script, 0.0) == b"1234"
