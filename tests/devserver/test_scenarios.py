"""Scenarios: the scripted shopper's state machine per order, its intents, its built-in files, and
choosing one (server default, per order); the item rules it acts through."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from devserver_helpers import Api, Shopping, assert_error, auth
from shopper_chat.devserver import ScenarioError, built_in_scenarios, load_scenario, start
from shopper_chat.devserver.scenarios import BUILT_IN, match_message, parse_scenario

BANANAS = "Hi, this is Sierra. Could you pick bananas like these, please?"
PHOTO = "https://example.com/images/green-bananas.jpg"


def shopper_texts(api: Api, shop: Shopping) -> list[str]:
    return [m["body"] for m in api.messages(shop.token, shop.order_id)["chat_messages"]
            if m["sender_type"] == "driver"]  # fmt: skip


def with_scenario(api: Api, name: str) -> Shopping:
    """An order that follows `name`, in picking; the shopper's opening turn is done."""
    api.create_order("user-1", "order-1")
    r = api.http.put("/_emulator/orders/order-1/scenario", json={"name": name})
    assert r.status_code == 200, r.text
    assert r.json() == {"order_id": "order-1", "name": name, "state": None, "since": None}
    token = api.user_token("user-1")
    shopper_id = api.create_shopper(token)
    batch_id = api.create_batch(token, shopper_id, "order-1")
    assert api.advance(token, batch_id, "picking").status_code == 200
    shop = Shopping("user-1", "order-1", token, shopper_id, batch_id)
    api.messages(shop.token, shop.order_id)  # fast-forward through the shopper's own turn
    return shop


def order(api: Api) -> dict[str, Any]:
    return dict(api.http.get("/_emulator/orders/order-1").json())


@pytest.mark.parametrize(
    ("text", "answer"),
    [("yes", "yes"), ("Yeah, go ahead", "yes"), ("Sure!", "yes"), ("ok 👍", "yes"),
     ("No problem, that works", "yes"), ("that's fine", "yes"), ("no", "no"), ("Nope.", "no"),
     ("No thanks", "no"), ("I'd rather not", "no"), ("Please don\u2019t", "no"),
     ("Hmm, what do they look like?", None)],
)  # fmt: skip
def test_yes_and_no_in_the_ways_people_say_them(text: str, answer: str | None) -> None:
    intents = match_message(text, False).intents
    said = "yes" if "yes" in intents else "no" if "no" in intents else None
    assert said == answer, sorted(intents)


def test_an_item_is_found_with_the_word_before_it() -> None:
    match = match_message("Hi Zelma! Could you pick ripe bananas, please?", False)
    assert match.item == "ripe bananas" and match.greeted
    assert {"item", "greeting", "question"} <= match.intents
    assert "image" in match_message(BANANAS, True).intents


def test_tutorial_answers_each_message_about_what_it_said_and_never_repeats(api: Api) -> None:
    shop = api.shopping()  # no scenario chosen: the default, tutorial
    api.messages(shop.token, shop.order_id)
    api.send(shop.token, shop.order_id, BANANAS, PHOTO)
    api.send(shop.token, shop.order_id, "Hi Zelma! Could you pick ripe bananas, please?")
    for _ in range(3):
        api.send(shop.token, shop.order_id, "thanks!")
    texts = shopper_texts(api, shop)
    assert texts[2] == ("Hi Sierra! Thanks for the photo: I'll pick bananas like those instead of "
                        "the organic ones.")
    assert texts[3] == "Hi Sierra! Sure: ripe bananas, noted. I'll pick them with care."
    assert all(a != b for a, b in zip(texts, texts[1:], strict=False)), texts
    assert order(api)["scenario"]["name"] == "tutorial"
    assert order(api)["scenario"]["state"] == "shopping_on"


def test_replacement_yes_replaces_the_item_with_the_replacement(api: Api) -> None:
    shop = with_scenario(api, "replacement")
    proposal = api.messages(shop.token, shop.order_id)["chat_messages"][-1]
    assert "Would these regular bananas work instead?" in proposal["body"] and proposal["image"]
    assert order(api)["scenario"]["state"] == "asked"
    assert "status" not in order(api)["items"][0]  # not touched yet
    api.send(shop.token, shop.order_id, "Yes please, the regular ones are fine.")
    assert shopper_texts(api, shop)[-1] == "Great, Sierra: I've swapped in the regular bananas."
    item = order(api)["items"][0]
    assert item["status"] == "replaced" and item["replacement_item"] == {"rrc": "regular-bananas"}
    assert order(api)["scenario"]["state"] == "settled"


def test_replacement_no_refunds_the_item_and_other_answers_ask_again(api: Api) -> None:
    shop = with_scenario(api, "replacement")
    api.send(shop.token, shop.order_id, "What do they look like?")
    assert "I need a yes or a no" in shopper_texts(api, shop)[-1]
    api.send(shop.token, shop.order_id, "Nah, I'd rather not")
    assert shopper_texts(api, shop)[-1] == (
        "No problem, Sierra: I'll leave the organic bananas out, and they'll be refunded.")
    assert order(api)["items"][0]["status"] == "to_refund"


def test_replacement_without_an_answer_applies_the_stores_default(api: Api) -> None:
    shop = with_scenario(api, "replacement")
    # The timeout waits for the customer: a frozen clock never fast-forwards to it.
    for _ in range(3):
        api.messages(shop.token, shop.order_id)
    assert order(api)["scenario"]["state"] == "asked"
    api.http.post("/_emulator/clock", json={"advance_seconds": 600}).raise_for_status()
    assert "the store's default" in shopper_texts(api, shop)[-1]
    assert order(api)["items"][0]["status"] == "replaced"
    api.send(shop.token, shop.order_id, "no")  # a no still refunds it
    assert "will be refunded" in shopper_texts(api, shop)[-1]
    assert order(api)["items"][0]["status"] == "to_refund"


def test_special_request_acknowledges_the_item(api: Api) -> None:
    shop = with_scenario(api, "special-request")
    api.send(shop.token, shop.order_id, "Could you pick green bananas, please? Not too ripe.")
    api.send(shop.token, shop.order_id, "And a firm avocado, if they have one.")
    texts = shopper_texts(api, shop)
    assert "green bananas" in texts[-2] and "firm avocado" in texts[-1]


def test_out_of_stock_refund(api: Api) -> None:
    shop = with_scenario(api, "out-of-stock-refund")
    assert "marked them for a refund" in shopper_texts(api, shop)[-1]
    assert order(api)["items"][0]["status"] == "to_refund"


def test_delivery_updates_as_the_batch_moves(api: Api) -> None:
    shop = with_scenario(api, "delivery-updates")
    for state in ("checkout", "delivering", "completed"):
        assert api.advance(shop.token, shop.batch_id, state).status_code == 200
    texts = shopper_texts(api, shop)
    assert "at checkout" in texts[-3] and "on my way" in texts[-2]
    assert texts[-1].startswith("Delivered!")  # the last word, as the chat closes
    assert order(api)["scenario"]["state"] == "delivered"
    assert api.send(shop.token, shop.order_id, "thanks").status_code == 403


def test_off_leaves_the_order_to_a_person(api: Api) -> None:
    shop = with_scenario(api, "off")
    api.send(shop.token, shop.order_id, "hello?")
    assert shopper_texts(api, shop) == []
    r = api.http.post("/_emulator/orders/order-1/shopper_messages", json={"body": "Hi, I'm Ana"})
    assert r.status_code == 200
    assert shopper_texts(api, shop) == ["Hi, I'm Ana"]


def test_scenarios_are_listed_each_with_one_line(api: Api) -> None:
    listed = api.http.get("/_emulator/scenarios").json()
    assert listed["default"] == "tutorial"
    names = [s["name"] for s in listed["scenarios"]]
    assert names == [*BUILT_IN, "script", "off"]
    for scenario in listed["scenarios"]:
        assert scenario["summary"] and "\n" not in scenario["summary"]
    replacement = next(s for s in listed["scenarios"] if s["name"] == "replacement")
    assert replacement["customer"][0]["body"].startswith("Yes")


def test_choosing_a_scenario_is_checked(api: Api) -> None:
    api.create_order("user-1", "order-1")
    path = "/_emulator/orders/order-1/scenario"
    assert_error(api.http.put(path, json={"name": "nope"}), 400, 1001, "name")
    assert_error(api.http.put(path, json={"name": "tutorial", "x": 1}), 400, 1001, "x")
    assert_error(api.http.put(path, json={}), 400, 1001, "name")
    assert_error(api.http.put("/_emulator/orders/missing/scenario", json={"name": "tutorial"}),
                 404, 4000)  # fmt: skip
    assert_error(api.http.put("/_emulator/shopper", json={"scenario": "nope"}), 400, 1001,
                 "scenario")  # fmt: skip


def test_a_new_scenario_mid_conversation_starts_over(api: Api) -> None:
    shop = with_scenario(api, "tutorial")
    r = api.http.put("/_emulator/orders/order-1/scenario", json={"name": "special-request"})
    assert r.json()["state"] == "shopping"
    assert "special care" in shopper_texts(api, shop)[-1]


def test_the_server_default_applies_to_new_orders() -> None:
    with start(seed=7, clock="2026-01-15T17:00:00Z", scenario="out-of-stock-refund") as server, \
            httpx.Client(base_url=server.base_url) as http:  # fmt: skip
        api = Api(http)
        shop = api.shopping()
        api.messages(shop.token, shop.order_id)
        assert http.get("/_emulator/scenarios").json()["default"] == "out-of-stock-refund"
        order = http.get(f"/_emulator/orders/{shop.order_id}").json()
        assert order["scenario"]["name"] == "out-of-stock-refund"
        assert order["items"][0]["status"] == "to_refund"
        http.get("/v2/post_checkout/orders/x", headers=auth(shop.token))


def test_the_built_in_files_are_valid_and_documented() -> None:
    scenarios = built_in_scenarios()
    assert list(scenarios) == list(BUILT_IN)
    folder = Path(__file__).resolve().parents[2] / "lib/shopper_chat/devserver/scenarios"
    for name in BUILT_IN:
        text = (folder / f"{name}.yaml").read_text(encoding="utf-8")
        assert text.startswith("#"), f"{name}.yaml opens with a comment saying what it is"
        assert load_scenario(folder / f"{name}.yaml").name == name
        assert len(scenarios[name].customer) >= 2, f"{name}: sample replies for a headless run"


GOOD = {"name": "mine", "summary": "one line",
        "states": {"a": [{"when": "any", "say": "ok"}]}}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "key"),
    [({"summary": None}, "summary"),
     ({"colour": "red"}, "colour"),
     ({"states": {"a": [{"when": "yes", "say": "ok"}]}}, "states.a"),
     ({"states": {"a": [{"when": "maybe", "say": "x"}, {"when": "any", "say": "y"}]}},
      "states.a[0].when"),
     ({"states": {"a": [{"when": "any", "say": "x", "to": "b"}]}}, "states.a[0].to"),
     ({"states": {"a": [{"when": "any"}]}}, "states.a[0].say"),
     ({"states": {"a": [{"when": "any", "say": "Hi {name}"}]}}, "states.a[0].say"),
     ({"states": {"a": [{"when": "any", "after": 3, "say": "x"}]}}, "states.a[0]"),
     ({"states": {"a": [{"when": "any", "say": "x", "item": "replaced"}]}}, "states.a[0].item"),
     ({"states": {"a": [{"on": "lunch", "say": "x"}, {"when": "any", "say": "y"}]}},
      "states.a[0].on"),
     ({"finish": ["later"]}, "finish[0]"),
     ({"start": "z"}, "start")],
)  # fmt: skip
def test_a_scenario_with_a_mistake_is_refused_naming_the_key(change: dict[str, Any],
                                                             key: str) -> None:  # fmt: skip
    data = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    with pytest.raises(ScenarioError, match=rf"`{key.replace('[', '.').replace(']', '.')}`"):
        parse_scenario(data)


def test_a_scenario_file_is_read_as_yaml_1_2(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\nsummary: s\nstates:\n  a:\n    - on: picking\n      say: hi\n"
                    "    - when: yes\n      say: good\n    - when: any\n      say: ok\n")
    scenario = load_scenario(path)
    assert [t.trigger for t in scenario.states["a"]] == ["on", "when", "when"]
    assert scenario.states["a"][1].intents == ("yes",)
    path.write_text("name: mine\n  bad: [")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenario(path)


def test_a_shopper_switched_on_after_picking_answers_from_the_start_state(api: Api) -> None:
    api.http.put("/_emulator/shopper", json={"enabled": False}).raise_for_status()
    shop = api.shopping()
    api.http.put("/_emulator/shopper", json={"enabled": True}).raise_for_status()
    api.send(shop.token, shop.order_id, "thanks!")
    assert shopper_texts(api, shop) == ["You're welcome, Sierra!"]  # no greeting it missed
