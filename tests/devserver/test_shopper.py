"""The scripted shopper: greeting at picking, replies, replacement, fast-forward, real clock."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from devserver_helpers import Api, auth
from shopper_chat.devserver import ScriptError, load_script, start
from shopper_chat.devserver.shopper import DEFAULT_GREETING


def test_greets_when_the_batch_reaches_picking(api: Api) -> None:
    api.create_order("u", "o")
    token = api.user_token("u")
    batch = api.create_batch(token, api.create_shopper(token), "o")
    assert api.messages(token, "o")["chat_messages"] == []
    api.advance(token, batch, "picking")
    messages = api.messages(token, "o")["chat_messages"]
    assert messages[0]["body"] == DEFAULT_GREETING
    assert messages[0]["created_at"] == "2026-01-15T17:00:00Z"
    # The default script follows up with a replacement suggestion and its picture.
    assert messages[1]["image"].startswith("data:image/svg+xml;base64,")
    assert messages[1]["created_at"] == "2026-01-15T17:00:30Z"
    image = api.http.get("/_emulator/images/replacement.svg")
    assert image.status_code == 200 and image.headers["content-type"].startswith("image/svg")


def test_frozen_clock_fast_forwards_to_the_reply(api: Api) -> None:
    shop = api.shopping()
    api.messages(shop.token, shop.order_id)
    sent = api.send(shop.token, shop.order_id, "Hi, this is Sierra.").json()
    messages = api.messages(shop.token, shop.order_id)["chat_messages"]
    reply = messages[-1]
    assert reply["sender_type"] == "driver" and reply["id"] > sent["id"]
    assert reply["body"].startswith("Hi Sierra!")
    assert reply["created_at"] == "2026-01-15T17:00:32Z"  # 2 s after the message at 17:00:30
    mine = next(m for m in messages if m["id"] == sent["id"])
    assert mine["read"] is True and mine["read_at"] == reply["created_at"]
    assert api.http.get("/_emulator/clock").json()["now"] == "2026-01-15T17:00:32Z"


def test_keyword_rules_and_default_reply(api: Api) -> None:
    # The script's keyword rules are the scenario `script` (the default is `tutorial`).
    assert api.http.put("/_emulator/shopper", json={"scenario": "script"}).status_code == 200
    shop = api.shopping()
    api.send(shop.token, shop.order_id, "Please substitute the milk if needed")
    assert "photo" in api.messages(shop.token, shop.order_id)["chat_messages"][-1]["body"]
    api.send(shop.token, shop.order_id, "The gate code is 1234")
    last = api.messages(shop.token, shop.order_id)["chat_messages"][-1]
    assert last["body"] == "Got it, Sierra. I'll keep that in mind while I shop."


def test_disabled_shopper_says_nothing(api: Api) -> None:
    assert api.http.put("/_emulator/shopper", json={"enabled": False}).json()["enabled"] is False
    shop = api.shopping()
    api.send(shop.token, shop.order_id, "hello?")
    messages = api.messages(shop.token, shop.order_id)["chat_messages"]
    assert [m["sender_type"] for m in messages] == ["user"]


def test_a_script_put_over_http(api: Api) -> None:
    script = {
        "display_name": "Ana",
        "avatar_url": "https://example.com/ana.png",
        "greeting": "Hello {customer_name}, {shopper_name} here.",
        "replies": [{"keywords": ["eggs"], "reply": "Eggs noted: {message}"}],
        "default_reply": None,
        "replacement": {"trigger": "keyword", "keywords": ["milk"], "delay": 5,
                        "body": "Oat milk instead?", "image_url": "https://example.com/oat.jpg"},
    }  # fmt: skip
    r = api.http.put("/_emulator/shopper", json={"script": script, "reply_delay": 1})
    assert r.status_code == 200 and r.json()["script"]["display_name"] == "Ana"
    shop = api.shopping()
    data = api.messages(shop.token, shop.order_id)
    assert data["chat_messages"][0]["body"] == "Hello Sierra, Ana here."
    assert data["metadata"]["shoppers"][0]["display_name"] == "Ana"
    api.send(shop.token, shop.order_id, "no eggs please")
    assert api.messages(shop.token, shop.order_id)["chat_messages"][-1]["body"] == (
        "Eggs noted: no eggs please"
    )
    api.send(shop.token, shop.order_id, "anything")  # no default reply
    assert api.messages(shop.token, shop.order_id)["chat_messages"][-1]["sender_type"] == "user"
    api.send(shop.token, shop.order_id, "is there milk?")
    last = api.messages(shop.token, shop.order_id)["chat_messages"][-1]
    assert last["image"] == "https://example.com/oat.jpg"


@pytest.mark.parametrize(
    ("script", "key"),
    [
        ({"greting": "hi"}, "greting"),
        ({"replies": [{"keywords": "x", "reply": "y"}]}, "replies[0].keywords"),
        ({"replies": [{"keywords": ["x"]}]}, "replies[0].reply"),
        ({"reply_delay": -1}, "reply_delay"),
        ({"greeting": "Hi {name}"}, "greeting"),
        ({"replacement": {"body": "x", "image_url": "file:///etc/passwd"}},
         "replacement.image_url"),
        ({"enabled": "yes"}, "enabled"),
    ],
)  # fmt: skip
def test_bad_scripts_name_the_key(api: Api, script: dict[str, object], key: str) -> None:
    with pytest.raises(ScriptError, match=rf"`{key.replace('[', '.').replace(']', '.')}`"):
        load_script(script)
    r = api.http.put("/_emulator/shopper", json={"script": script})
    assert r.status_code == 400 and key in r.json()["error"]["message"]


def test_script_files(tmp_path: Path) -> None:
    good = tmp_path / "s.yaml"
    good.write_text("display_name: Kim\ngreeting: null\n")
    assert load_script(good).display_name == "Kim" and load_script(good).greeting is None
    as_json = tmp_path / "s.json"
    as_json.write_text('{"reply_delay": 0.5}')
    assert load_script(as_json).reply_delay == 0.5
    broken = tmp_path / "b.yaml"
    broken.write_text("replies: [\n")
    with pytest.raises(ScriptError, match="not valid YAML"):
        load_script(broken)
    with pytest.raises(ScriptError, match="cannot read"):
        load_script(tmp_path / "missing.yaml")


def test_real_clock_reply_arrives_after_the_delay() -> None:
    with start(seed=3, reply_delay=0.2) as server, httpx.Client(base_url=server.base_url) as http:
        api = Api(http)
        shop = api.shopping()
        deadline = time.monotonic() + 20
        while not api.messages(shop.token, shop.order_id)["chat_messages"]:
            assert time.monotonic() < deadline, "no greeting"
            time.sleep(0.02)
        sent = api.send(shop.token, shop.order_id, "thanks!").json()
        replies: list[dict[str, object]] = []
        while not replies:
            assert time.monotonic() < deadline, "no reply"
            messages = api.messages(shop.token, shop.order_id)["chat_messages"]
            replies = [m for m in messages if m["sender_type"] == "driver" and m["id"] > sent["id"]]
            time.sleep(0.02)
        assert replies[0]["body"] == "You're welcome, Sierra!"
        assert not http.get("/_emulator/clock").json()["frozen"]
        assert auth("x")
