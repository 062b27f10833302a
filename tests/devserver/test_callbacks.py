"""The development server sends Connect's event callbacks: which events, when, in which envelope,
and the control plane that configures them (`/_emulator/callbacks`). The receiver is
`callback_support.Retailer`, written apart from `shopper_chat.listen`."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from callback_support import CLIENT_ID, CLIENT_SECRET, Retailer, config_for, wait_for
from devserver_helpers import Api, assert_error
from shopper_chat import Client, tutorial
from shopper_chat.contract import EVENT_NAMES, parse_event
from shopper_chat.devserver import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DevServer, start
from shopper_chat.devserver.callbacks import RetryPolicy

CLOCK = "2026-01-15T17:00:00Z"
FAST = RetryPolicy(first_delay=0.05, max_delay=0.2, give_up_after=5, timeout=0.5)


@pytest.fixture()
def retailer() -> Iterator[Retailer]:
    with Retailer() as running:
        yield running


def server_for(retailer: Retailer | None, **options: Any) -> DevServer:
    return start(seed=7, clock=CLOCK, callbacks=None if retailer is None else config_for(retailer),
                 callback_policy=options.pop("callback_policy", FAST), **options)


def client_of(server: DevServer) -> Client:
    return Client(server.base_url, client_id=DEFAULT_CLIENT_ID,
                  client_secret=DEFAULT_CLIENT_SECRET, timeout=5)


def names(retailer: Retailer) -> list[str]:
    return [e["event_name"] for e in retailer.events]


def settle(server: DevServer) -> None:
    assert server.backend.callbacks.flush(10), "deliveries still pending"


# -- the tutorial's events -------------------------------------------------------------------------
def test_a_tutorial_run_delivers_the_form_post_first_then_every_event(retailer: Retailer) -> None:
    with server_for(retailer) as server, client_of(server) as client:
        setup = tutorial.create_order(client, "customer-1", "order-1")
        shopping = tutorial.start_shopping(client, setup.order_id, setup.user_id)
        client.set_user(setup.user_id)
        client.chat.send(setup.order_id, "Hi! Ripe bananas, please.")
        conversation = client.chat.messages(setup.order_id)
        for state in ("checkout", "delivering", "completed"):
            client.sandbox.advance(shopping.batch_id, state)
        internal_id = httpx.get(f"{server.base_url}/_emulator/orders/order-1").json()[
            "internal_id"]
        settle(server)

    first = retailer.requests[0]
    assert first["path"] == "/token"
    assert first["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(first["body"].decode()) == {"client_id": [CLIENT_ID],
                                                 "client_secret": [CLIENT_SECRET],
                                                 "grant_type": ["client_credentials"]}
    assert retailer.paths().count("/token") == 1
    for request in retailer.requests[1:]:
        assert request["headers"]["Authorization"] == "Bearer tok-1-abcdef"
    chats = len(conversation.chat_messages)
    assert names(retailer) == [
        "fulfillment.brand_new", "fulfillment.acknowledged", "fulfillment.picking",
        *["chat_message_created"] * chats,
        "fulfillment.checkout", "fulfillment.delivering", "fulfillment.delivered",
    ]
    for event in retailer.events:
        assert set(event) == {"event_id", "event_name", "event_timestamp", "event_metadata"}
        assert isinstance(event["event_id"], int) and event["event_timestamp"].endswith("Z")
        parse_event(event)
        if event["event_name"] == "chat_message_created":
            assert event["event_metadata"] == {"topic_id": str(internal_id)}
        else:
            assert event["event_metadata"] == {"order_id": "order-1"}
    assert chats >= 2  # the shopper's greeting and the customer's message, at least
    assert len({e["event_id"] for e in retailer.events}) == len(retailer.events)


def test_a_skipped_state_sends_the_events_of_the_states_between(retailer: Retailer) -> None:
    with server_for(retailer, shopper=False) as server, client_of(server) as client:
        setup = tutorial.create_order(client, "c-1", "o-1")
        batch = client.sandbox.create_batch(client.sandbox.create_shopper().id, [setup.order_id],
                                            workflow_state="picking")
        client.sandbox.advance(batch.id, "completed")
        settle(server)
    assert names(retailer) == [
        "fulfillment.brand_new", "fulfillment.acknowledged", "fulfillment.picking",
        "fulfillment.checkout", "fulfillment.delivering", "fulfillment.delivered"]


def test_a_pickup_batch_sends_staged(retailer: Retailer) -> None:
    with server_for(retailer, shopper=False) as server, client_of(server) as client:
        setup = tutorial.create_order(client, "c-1", "o-1")
        batch = client.sandbox.create_batch(client.sandbox.create_shopper().id, [setup.order_id],
                                            batch_type="pickup")
        client.sandbox.advance(batch.id, "staged")
        settle(server)
    assert names(retailer)[-3:] == ["fulfillment.picking", "fulfillment.checkout",
                                    "fulfillment.staged"]


@pytest.mark.parametrize("event_name", ["canceled", "rescheduled", "late_delivery"])
def test_the_sandbox_callbacks_route_really_sends_its_event(retailer: Retailer,
                                                            event_name: str) -> None:
    with server_for(retailer, shopper=False) as server, client_of(server) as client:
        tutorial.create_order(client, "c-1", "o-1")
        answer = httpx.post(f"{server.base_url}/v2/fulfillment_sandbox/orders/o-1/callbacks",
                            json={"event_name": event_name}, headers=_retailer_headers(server))
        assert answer.status_code == 200, answer.text
        settle(server)
    assert names(retailer) == ["fulfillment.brand_new", f"fulfillment.{event_name}"]
    assert retailer.events[-1]["event_metadata"] == {"order_id": "o-1"}


def test_items_replaced_and_refunded_send_their_events(retailer: Retailer) -> None:
    with server_for(retailer, shopper=False) as server, client_of(server) as client:
        setup = tutorial.create_order(client, "c-1", "o-1")
        shopping = tutorial.start_shopping(client, setup.order_id)
        base = (f"{server.base_url}/v2/fulfillment_sandbox/shoppers/{shopping.shopper_id}"
                f"/orders/o-1/items")
        headers = _retailer_headers(server)
        for line, body in (("1", {"status": "found"}),
                           ("2", {"status": "replaced", "replacement_item": {"upc": "1234"}}),
                           ("3", {"status": "to_refund"})):
            answer = httpx.put(f"{base}/{line}", json=body, headers=headers)
            assert answer.status_code == 200, answer.text
        settle(server)
    assert names(retailer)[-2:] == ["fulfillment.item_replaced", "fulfillment.item_refunded"]


def test_a_refused_request_sends_nothing(retailer: Retailer) -> None:
    with server_for(retailer, shopper=False) as server, client_of(server) as client:
        tutorial.create_order(client, "c-1", "o-1")
        client.set_user("c-1")
        with pytest.raises(Exception, match="not allowed"):
            client.chat.send("o-1", "no shopper yet: 403")
        settle(server)
    assert names(retailer) == ["fulfillment.brand_new"]


def test_the_control_plane_shopper_message_sends_an_event_too(retailer: Retailer) -> None:
    with server_for(retailer, shopper=False) as server, client_of(server) as client:
        setup = tutorial.create_order(client, "c-1", "o-1")
        tutorial.start_shopping(client, setup.order_id)
        answer = httpx.post(f"{server.base_url}/_emulator/orders/o-1/shopper_messages",
                            json={"body": "Hello from the shopper"})
        assert answer.status_code == 200, answer.text
        settle(server)
    assert names(retailer)[-1] == "chat_message_created"


# -- never in the way of the API -------------------------------------------------------------------
def test_a_hanging_receiver_never_slows_an_api_request() -> None:
    with Retailer(hang=True) as retailer:
        server = server_for(retailer, callback_policy=RetryPolicy(timeout=0.5))
        try:
            with client_of(server) as client:
                started = time.perf_counter()
                setup = tutorial.create_order(client, "c-1", "o-1")
                tutorial.start_shopping(client, setup.order_id, setup.user_id)
                client.set_user(setup.user_id)
                for n in range(5):
                    client.chat.send(setup.order_id, f"message {n}")
                elapsed = time.perf_counter() - started
            wait_for(lambda: any(d.error for d in server.backend.callbacks.deliveries()))
        finally:
            stopping = time.perf_counter()
            server.stop()
            stopped = time.perf_counter() - stopping
    # About 15 requests and a dozen events, each of which would wait 0.5 s on the receiver.
    assert elapsed < 3, elapsed
    assert stopped < 5, stopped
    assert server.backend.callbacks.deliveries()[0].error == "events URL: no answer within 0.5 s"


def test_a_receiver_that_answers_500_twice_gets_the_event_a_third_time(caplog: Any) -> None:
    with Retailer(event_statuses=[500, 500]) as retailer, \
            server_for(retailer, shopper=False) as server, client_of(server) as client:
        tutorial.create_order(client, "c-1", "o-1")
        settle(server)
        log = httpx.get(f"{server.base_url}/_emulator/callbacks/deliveries").json()
    sent = [json.loads(r["body"]) for r in retailer.requests if r["path"] == "/events"]
    assert len(sent) == 3 and sent[0] == sent[1] == sent[2]
    assert [(d["attempt"], d["outcome"], d["status"]) for d in log["deliveries"]] == [
        (1, "retrying", 500), (2, "retrying", 500), (3, "delivered", 200)]
    assert log["pending"] == 0


def test_a_token_url_that_refuses_gets_no_events_and_the_log_says_why(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with Retailer() as retailer:
        config = config_for(retailer, secret="the-wrong-secret")
        policy = RetryPolicy(first_delay=0.05, max_delay=0.05, give_up_after=0.2, timeout=0.5)
        with start(seed=7, clock=CLOCK, callbacks=config, callback_policy=policy) as server, \
                client_of(server) as client:
            tutorial.create_order(client, "c-1", "o-1")
            settle(server)
            log = httpx.get(f"{server.base_url}/_emulator/callbacks/deliveries").text
    assert "/events" not in retailer.paths()
    entries = json.loads(log)["deliveries"]
    assert entries[0]["error"] == "the token URL refused the client credentials (401)"
    assert entries[-1]["outcome"] == "gave_up"
    assert "the-wrong-secret" not in log + caplog.text


# -- the control plane -----------------------------------------------------------------------------
def test_put_get_delete_callbacks_with_the_secret_masked(api: Api, retailer: Retailer) -> None:
    http = api.http
    off = {"url": None, "token_url": None, "client_id": None, "client_secret": None,
           "events": None}
    assert http.get("/_emulator/callbacks").json() == off
    body = {"url": f"{retailer.base}/events", "token_url": f"{retailer.base}/token",
            "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "events": ["fulfillment.picking", "chat_message_created"]}
    put = http.put("/_emulator/callbacks", json=body)
    assert put.status_code == 200, put.text
    shown = {**body, "client_secret": "**********",
             "events": ["chat_message_created", "fulfillment.picking"]}
    assert put.json() == shown
    assert http.get("/_emulator/callbacks").json() == shown
    assert CLIENT_SECRET not in put.text + http.get("/_emulator/callbacks/deliveries").text
    assert http.delete("/_emulator/callbacks").json() == off
    assert http.get("/_emulator/callbacks").json() == off


def test_the_events_filter_sends_only_those(api: Api, retailer: Retailer, devserver: str) -> None:
    api.http.put("/_emulator/callbacks", json={
        "url": f"{retailer.base}/events", "token_url": f"{retailer.base}/token",
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
        "events": ["fulfillment.picking"]})
    shopping = api.shopping()
    api.send(api.user_token(shopping.user_id), shopping.order_id, "hello")
    wait_for(lambda: "fulfillment.picking" in names(retailer))
    deliveries = api.http.get("/_emulator/callbacks/deliveries").json()
    assert deliveries["pending"] == 0
    assert names(retailer) == ["fulfillment.picking"]


@pytest.mark.parametrize(("body", "key", "message"), [
    ({"token_url": "http://127.0.0.1:9/t", "client_id": "i", "client_secret": "s"}, "url",
     "can't be blank"),
    ({"url": "ftp://127.0.0.1/e", "token_url": "http://127.0.0.1:9/t", "client_id": "i",
      "client_secret": "s"}, "url", "is invalid"),
    ({"url": "http://127.0.0.1:9/e", "token_url": "/token", "client_id": "i",
      "client_secret": "s"}, "token_url", "is invalid"),
    ({"url": "http://127.0.0.1:9/e", "token_url": "http://127.0.0.1:9/t", "client_id": " ",
      "client_secret": "s"}, "client_id", "can't be blank"),
    ({"url": "http://127.0.0.1:9/e", "token_url": "http://127.0.0.1:9/t", "client_id": "i",
      "client_secret": ""}, "client_secret", "can't be blank"),
    ({"url": "http://127.0.0.1:9/e", "token_url": "http://127.0.0.1:9/t", "client_id": "i",
      "client_secret": 5}, "client_secret", "is invalid"),
    ({"url": "http://127.0.0.1:9/e", "token_url": "http://127.0.0.1:9/t", "client_id": "i",
      "client_secret": "s", "events": ["fulfillment.pickin"]}, "events[1]",
     "is not included in the list"),
    ({"url": "http://127.0.0.1:9/e", "token_url": "http://127.0.0.1:9/t", "client_id": "i",
      "client_secret": "s", "events": []}, "events", "can't be blank"),
    ({"url": "http://127.0.0.1:9/e", "token_url": "http://127.0.0.1:9/t", "client_id": "i",
      "client_secret": "s", "scope": "x"}, "scope", "is not a known field"),
])
def test_bad_settings_get_the_documented_envelope(api: Api, body: dict[str, Any], key: str,
                                                  message: str) -> None:
    answer = api.http.put("/_emulator/callbacks", json=body)
    assert assert_error(answer, 400, 1001, key)["error"]["message"] == message
    assert "s3cret" not in answer.text
    assert api.http.get("/_emulator/callbacks").json()["url"] is None


@pytest.mark.parametrize("raw", [b"not json", b"[1]"])
def test_a_body_that_is_not_an_object_is_a_400(api: Api, raw: bytes) -> None:
    assert_error(api.http.put("/_emulator/callbacks", content=raw), 400, 1001, "body")


def test_no_body_lists_every_missing_field(api: Api) -> None:
    answer = api.http.put("/_emulator/callbacks")
    assert_error(answer, 400, 9999)
    keys = [e["meta"]["key"] for e in answer.json()["error"]["errors"]]
    assert keys == ["url", "token_url", "client_id", "client_secret"]


def test_several_bad_fields_are_listed_without_the_secret(api: Api) -> None:
    answer = api.http.put("/_emulator/callbacks", json={"url": 1, "token_url": "x",
                                                        "client_secret": "hidden-value"})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == 9999
    assert "hidden-value" not in answer.text


def test_reset_goes_back_to_the_settings_the_server_started_with(retailer: Retailer) -> None:
    with server_for(retailer, shopper=False) as server, client_of(server) as client:
        tutorial.create_order(client, "c-1", "o-1")
        settle(server)
        assert httpx.delete(f"{server.base_url}/_emulator/callbacks").status_code == 200
        httpx.post(f"{server.base_url}/_emulator/reset")
        shown = httpx.get(f"{server.base_url}/_emulator/callbacks").json()
        log = httpx.get(f"{server.base_url}/_emulator/callbacks/deliveries").json()
    assert shown["url"] == f"{retailer.base}/events" and shown["client_secret"] == "**********"
    assert log == {"deliveries": [], "pending": 0}


def test_the_openapi_document_lists_the_callback_routes() -> None:
    from shopper_chat.devserver.openapi import openapi_document

    control = openapi_document()["x-emulator"]["paths"]
    assert set(control["/_emulator/callbacks"]) == {"get", "put", "delete"}
    assert set(control["/_emulator/callbacks/deliveries"]) == {"get"}
    schema = openapi_document()["x-emulator"]["components"]["schemas"]["CallbacksRequest"]
    assert schema["additionalProperties"] is False
    events = schema["properties"]["events"]["anyOf"][0]["items"]["enum"]
    assert tuple(events) == EVENT_NAMES


# -- ids and persistence ---------------------------------------------------------------------------
def test_event_ids_are_repeatable_and_change_no_other_id(retailer: Retailer) -> None:
    runs = []
    for with_callbacks in (True, True, False):
        with Retailer() as receiver, \
                server_for(receiver if with_callbacks else None) as server, \
                client_of(server) as client:
            setup = tutorial.create_order(client, "c-1", "o-1")
            shopping = tutorial.start_shopping(client, setup.order_id)
            settle(server)
            runs.append((shopping.batch_id, shopping.shopper_id,
                         [e["event_id"] for e in receiver.events]))
    assert runs[0] == runs[1]
    assert runs[2][:2] == runs[0][:2] and runs[2][2] == []


def test_pending_deliveries_survive_a_restart_with_db(tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite3"
    slow = RetryPolicy(first_delay=60, give_up_after=600, timeout=0.5)
    with Retailer(event_statuses=[503] * 10) as down:
        server = start(seed=7, clock=CLOCK, db=db, callbacks=config_for(down),
                       callback_policy=slow, shopper=False)
        with client_of(server) as client:
            tutorial.create_order(client, "c-1", "o-1")
        wait_for(lambda: server.backend.callbacks.deliveries() != [])
        failed = server.backend.callbacks.deliveries()[0]
        server.stop()
    assert failed.outcome == "retrying"

    # The settings come again from the configuration (they are never written to the file).
    with Retailer() as up, start(seed=7, clock=CLOCK, db=db, callbacks=config_for(up),
                                 callback_policy=FAST, shopper=False) as server:
        settle(server)
        log = server.backend.callbacks.deliveries()
    assert [e["event_id"] for e in up.events] == [failed.event_id]
    assert [(d.attempt, d.outcome) for d in log] == [(2, "delivered")]
    assert CLIENT_SECRET.encode() not in db.read_bytes()


def _retailer_headers(server: DevServer) -> dict[str, str]:
    token = httpx.post(f"{server.base_url}/v2/oauth/token", json={
        "client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET,
        "grant_type": "client_credentials", "scope": "connect:fulfillment"}).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


# -- shopper-chat serve's settings -----------------------------------------------------------------
def test_serve_reads_the_four_variables() -> None:
    from shopper_chat.devserver.callbacks import config_from_env

    assert config_from_env({}) is None
    config = config_from_env({"CONNECT_CALLBACK_URL": "http://127.0.0.1:9/e",
                              "CONNECT_CALLBACK_TOKEN_URL": "http://127.0.0.1:9/t",
                              "CONNECT_CALLBACK_CLIENT_ID": "id",
                              "CONNECT_CALLBACK_CLIENT_SECRET": "env-secret"})
    assert config is not None and config.public()["client_secret"] == "**********"
    assert config.client_secret.get_secret_value() == "env-secret"


@pytest.mark.parametrize(("env", "message"), [
    ({"CONNECT_CALLBACK_URL": "http://127.0.0.1:9/e"},
     "shopper-chat serve: CONNECT_CALLBACK_TOKEN_URL is not set (event callbacks need all of "
     "CONNECT_CALLBACK_URL, CONNECT_CALLBACK_TOKEN_URL, CONNECT_CALLBACK_CLIENT_ID, "
     "CONNECT_CALLBACK_CLIENT_SECRET)\n"),
    ({"CONNECT_CALLBACK_URL": "127.0.0.1:9/e", "CONNECT_CALLBACK_TOKEN_URL": "http://x/t",
      "CONNECT_CALLBACK_CLIENT_ID": "id", "CONNECT_CALLBACK_CLIENT_SECRET": "not-shown"},
     "shopper-chat serve: CONNECT_CALLBACK_URL: must be an http:// or https:// URL with a host\n"),
])
def test_serve_refuses_incomplete_settings_with_exit_2(
        env: dict[str, str], message: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from shopper_chat import cli

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["serve", "--port", "0"]) == 2
    assert capsys.readouterr().err == message
