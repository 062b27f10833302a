"""The callback engine against a retailer endpoint written apart from `shopper_chat.listen`
(`callback_support.Retailer`: an OAuth token URL and an events URL that record every request)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs

import pytest
from callback_support import CLIENT_ID, CLIENT_SECRET, Retailer, config_for, wait_for
from shopper_chat._secret import Secret
from shopper_chat.contract import ChatMessageCreated, FulfillmentEvent, parse_event
from shopper_chat.devserver.callbacks import (
    CallbackConfig,
    CallbackEngine,
    DeliveryAttempt,
    MemoryPendingStore,
    PendingDelivery,
    RetryPolicy,
    format_attempt,
)

FAST = RetryPolicy(first_delay=0.05, factor=2.0, max_delay=0.2, give_up_after=5.0, timeout=0.5)
WHEN = datetime(2026, 1, 15, 17, 0, tzinfo=timezone.utc)


def picking(event_id: int, order_id: str = "order-1") -> FulfillmentEvent:
    return FulfillmentEvent(event_id=event_id, event_name="fulfillment.picking",
                            event_timestamp=WHEN, event_metadata={"order_id": order_id})


def chat(event_id: int, topic_id: str = "101") -> ChatMessageCreated:
    return ChatMessageCreated(event_id=event_id, event_timestamp=WHEN,
                              event_metadata={"topic_id": topic_id})


@pytest.fixture()
def engine() -> Iterator[CallbackEngine]:
    with CallbackEngine(policy=FAST) as running:
        yield running


def test_the_token_form_post_comes_first_then_each_event_with_the_bearer_token(
        engine: CallbackEngine) -> None:
    with Retailer() as retailer:
        engine.configure(config_for(retailer))
        assert engine.publish(chat(11))
        assert engine.publish(picking(12))
        assert engine.flush(5)

    first = retailer.requests[0]
    assert first["path"] == "/token"
    assert first["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(first["body"].decode()) == {
        "client_id": [CLIENT_ID], "client_secret": [CLIENT_SECRET],
        "grant_type": ["client_credentials"],
    }
    # One token, cached for both events.
    assert retailer.paths() == ["/token", "/events", "/events"]
    for request in retailer.requests[1:]:
        assert request["headers"]["Authorization"] == "Bearer tok-1-abcdef"
        assert request["headers"]["Content-Type"] == "application/json"
    assert retailer.events == [
        {"event_id": 11, "event_name": "chat_message_created",
         "event_timestamp": "2026-01-15T17:00:00Z", "event_metadata": {"topic_id": "101"}},
        {"event_id": 12, "event_name": "fulfillment.picking",
         "event_timestamp": "2026-01-15T17:00:00Z", "event_metadata": {"order_id": "order-1"}},
    ]
    assert [type(parse_event(e)) for e in retailer.events] == [ChatMessageCreated,
                                                               FulfillmentEvent]
    assert [(d.event_id, d.attempt, d.outcome, d.status) for d in engine.deliveries()] == [
        (11, 1, "delivered", 200), (12, 1, "delivered", 200)]


def test_a_receiver_that_answers_500_twice_gets_the_event_a_third_time_with_the_same_id(
        engine: CallbackEngine) -> None:
    with Retailer(event_statuses=[500, 500]) as retailer:
        engine.configure(config_for(retailer))
        engine.publish(picking(41))
        assert engine.flush(5)
        sent = [json.loads(r["body"]) for r in retailer.requests if r["path"] == "/events"]

    assert [e["event_id"] for e in sent] == [41, 41, 41]
    assert sent[0] == sent[1] == sent[2]
    assert retailer.events == [sent[2]]
    log = engine.deliveries()
    assert [(d.attempt, d.outcome, d.status) for d in log] == [
        (1, "retrying", 500), (2, "retrying", 500), (3, "delivered", 200)]
    assert log[0].next_retry_at is not None and log[2].next_retry_at is None
    assert format_attempt(log[0]).startswith(
        "event 41 fulfillment.picking attempt 1: retrying (HTTP 500; the events URL answered 500)")


def test_a_token_url_that_refuses_the_credentials_gets_no_event_and_the_log_says_why(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    policy = RetryPolicy(first_delay=0.05, max_delay=0.1, give_up_after=0.3, timeout=0.5)
    with Retailer() as retailer, CallbackEngine(policy=policy) as engine:
        engine.configure(config_for(retailer, secret="not-the-retailers-secret"))
        engine.publish(picking(7))
        assert engine.flush(5)

    assert "/events" not in retailer.paths()
    assert retailer.paths()[0] == "/token"
    log = engine.deliveries()
    assert log[0].outcome == "retrying" and log[-1].outcome == "gave_up"
    assert all(d.status is None for d in log)
    assert log[0].error == "the token URL refused the client credentials (401)"
    assert "refused the client credentials (401); no retry after 0.3 s" in (log[-1].error or "")
    shown = caplog.text + json.dumps([d.model_dump() for d in log])
    assert "not-the-retailers-secret" not in shown


def test_a_hanging_receiver_does_not_block_publish() -> None:
    with Retailer(hang=True) as retailer, CallbackEngine(policy=FAST) as engine:
        engine.configure(config_for(retailer))
        started = time.perf_counter()
        for event_id in range(1, 51):
            assert engine.publish(picking(event_id))
        elapsed = time.perf_counter() - started
        wait_for(lambda: any(d.error and "no answer" in d.error for d in engine.deliveries()))
        # Still publishing at once while the worker waits on the receiver.
        again = time.perf_counter()
        assert engine.publish(picking(99))
        assert time.perf_counter() - again < 0.05
    assert elapsed < 0.5
    first = engine.deliveries()[0]
    assert (first.outcome, first.error) == ("retrying", "events URL: no answer within 0.5 s")


def test_a_401_from_the_events_url_fetches_a_new_token_once(engine: CallbackEngine) -> None:
    with Retailer(revoke_after=1) as retailer:
        engine.configure(config_for(retailer))
        engine.publish(picking(1))
        assert engine.flush(5)
        engine.publish(picking(2))
        assert engine.flush(5)

    assert retailer.paths() == ["/token", "/events", "/events", "/token", "/events"]
    assert [r["headers"].get("Authorization") for r in retailer.requests[2::2]] == [
        "Bearer tok-1-abcdef", "Bearer tok-2-abcdef"]
    assert [(d.event_id, d.attempt, d.outcome) for d in engine.deliveries()] == [
        (1, 1, "delivered"), (2, 1, "delivered")]


def test_a_token_that_is_refused_even_when_fresh_is_an_attempt_that_failed() -> None:
    policy = RetryPolicy(first_delay=0.05, max_delay=0.05, give_up_after=0.12, timeout=0.5)
    with Retailer(revoke_after=0) as retailer, CallbackEngine(policy=policy) as engine:
        engine.configure(config_for(retailer))
        engine.publish(picking(3))
        assert engine.flush(5)
    # A fresh token refused is not fetched again in the same attempt; the next attempt fetches.
    assert retailer.paths()[:4] == ["/token", "/events", "/token", "/events"]
    assert engine.deliveries()[0].error == "the events URL refused the bearer token (401)"


def test_the_token_is_kept_until_it_expires(engine: CallbackEngine) -> None:
    with Retailer(expires_in=0.4) as retailer:
        engine.configure(config_for(retailer))
        engine.publish(picking(1))
        engine.publish(picking(2))
        assert engine.flush(5)
        time.sleep(0.3)  # past half its life: the margin
        engine.publish(picking(3))
        assert engine.flush(5)
    assert retailer.paths() == ["/token", "/events", "/events", "/token", "/events"]


@pytest.mark.parametrize("answer", [{"token_type": "Bearer"}, {"access_token": ""}, [1, 2]])
def test_a_token_answer_without_a_token_is_a_failed_attempt(answer: Any) -> None:
    policy = RetryPolicy(first_delay=0.05, give_up_after=0.01, timeout=0.5)
    with Retailer() as retailer, CallbackEngine(policy=policy) as engine:
        def token(handler: BaseHTTPRequestHandler, body: bytes) -> None:
            retailer.answer(handler, 200, answer)

        retailer.token = token  # type: ignore[method-assign]
        engine.configure(config_for(retailer))
        engine.publish(picking(5))
        assert engine.flush(5)
    assert "/events" not in retailer.paths()
    assert engine.deliveries()[-1].error == (
        "the token URL's answer has no access_token; no retry after 0.01 s")


def test_nothing_is_sent_when_delivery_is_off_or_the_event_is_filtered_out() -> None:
    with Retailer() as retailer, CallbackEngine(policy=FAST) as engine:
        assert not engine.publish(picking(1))  # not configured
        engine.configure(config_for(retailer, events=frozenset({"chat_message_created"})))
        assert not engine.publish(picking(2))
        assert engine.publish(chat(3))
        assert engine.flush(5)
    assert [e["event_id"] for e in retailer.events] == [3]


def test_turning_delivery_off_drops_what_is_pending() -> None:
    store = MemoryPendingStore()
    slow = RetryPolicy(first_delay=30, give_up_after=300, timeout=0.5)
    with Retailer(event_statuses=[500]) as retailer, CallbackEngine(policy=slow,
                                                                    store=store) as engine:
        engine.configure(config_for(retailer))
        engine.publish(picking(8))
        wait_for(lambda: engine.deliveries() != [])
        assert [p.event_id for p in store.load()] == [8]
        engine.configure(None)
    assert store.load() == []
    assert [(d.outcome, d.error) for d in engine.deliveries()] == [
        ("retrying", "the events URL answered 500"), ("dropped", "callbacks were turned off")]


def test_pending_deliveries_survive_a_restart_through_the_store() -> None:
    store = MemoryPendingStore()
    slow = RetryPolicy(first_delay=30, give_up_after=300, timeout=0.5)
    with Retailer(event_statuses=[503]) as retailer:
        with CallbackEngine(config_for(retailer), policy=slow, store=store) as engine:
            engine.publish(picking(21))
            engine.publish(chat(22))
            wait_for(lambda: len(engine.deliveries()) == 2)
        # Stopped: 21 failed once and waits 30 s; 22 was delivered.
        assert [(p.event_id, p.attempts) for p in store.load()] == [(21, 1)]

        with CallbackEngine(config_for(retailer), policy=FAST, store=store) as restarted:
            assert [p.event_id for p in restarted.pending()] == [21]
            assert restarted.flush(5)
        assert store.load() == []
    assert [e["event_id"] for e in retailer.events] == [22, 21]
    assert [(d.event_id, d.attempt, d.outcome) for d in restarted.deliveries()] == [
        (21, 2, "delivered")]


def test_pending_deliveries_wait_for_a_configuration() -> None:
    store = MemoryPendingStore()
    store.save(PendingDelivery(event=picking(5).model_dump(mode="json"), attempts=2))
    with Retailer() as retailer, CallbackEngine(policy=FAST, store=store) as engine:
        time.sleep(0.1)
        assert retailer.paths() == []
        engine.configure(config_for(retailer))
        assert engine.flush(5)
    assert [e["event_id"] for e in retailer.events] == [5]


def test_a_failing_store_does_not_stop_delivery(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def save(self, delivery: Any) -> None:
            raise OSError("disk full")

        def discard(self, event_id: int) -> None:
            raise OSError("disk full")

        def load(self) -> list[Any]:
            raise OSError("disk full")

    with Retailer() as retailer, CallbackEngine(policy=FAST, store=Broken()) as engine:
        engine.configure(config_for(retailer))
        assert engine.publish(picking(1))
        assert engine.flush(5)
    assert [e["event_id"] for e in retailer.events] == [1]
    assert "could not save a pending delivery" in caplog.text


def test_publish_never_raises_on_a_bad_event() -> None:
    with CallbackEngine(policy=FAST) as engine:
        engine.configure(CallbackConfig("http://127.0.0.1:9/e", "http://127.0.0.1:9/t", "id",
                                        Secret("x")))
        assert engine.publish({"no": "event id"}) is False


def test_the_secret_is_masked_in_the_config_and_the_token_never_shows(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with Retailer(event_statuses=[500]) as retailer, CallbackEngine(policy=FAST) as engine:
        config = config_for(retailer)
        engine.configure(config)
        engine.publish(picking(1))
        assert engine.flush(5)
    shown = " ".join([repr(config), str(config), json.dumps(config.public()), caplog.text,
                      repr(engine.deliveries()), repr(engine.pending())])
    assert CLIENT_SECRET not in shown
    assert "tok-1-abcdef" not in shown
    assert config.public() == {
        "url": f"{retailer.base}/events", "token_url": f"{retailer.base}/token",
        "client_id": CLIENT_ID, "client_secret": "**********", "events": None}
    with_password = CallbackConfig("https://u:pw-in-url@example.test/e", "https://example.test/t",
                                   "id", Secret("x"))
    assert "pw-in-url" not in json.dumps(with_password.public())


@pytest.mark.parametrize(("field", "value", "message"), [
    ("url", "ftp://example.test/e", "url must be an http:// or https:// URL with a host"),
    ("token_url", "/token", "token_url must be an http:// or https:// URL with a host"),
    ("client_id", " ", "client_id must be a non-empty text"),
    ("client_secret", "", "client_secret must be a non-empty text"),
])
def test_a_bad_configuration_is_refused_with_a_sentence(field: str, value: str,
                                                        message: str) -> None:
    values: dict[str, Any] = {"url": "http://127.0.0.1:1/e", "token_url": "http://127.0.0.1:1/t",
                              "client_id": "id", "client_secret": Secret("x")}
    values[field] = Secret(value) if field == "client_secret" else value
    with pytest.raises(ValueError, match=message):
        CallbackConfig(**values)


def test_the_schedule_backs_off_to_the_documented_bounds() -> None:
    policy = RetryPolicy()
    assert [policy.delay(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    waited, attempts = 0.0, 1
    while waited + policy.delay(attempts) <= policy.give_up_after:
        waited += policy.delay(attempts)
        attempts += 1
    assert attempts == 15 and policy.timeout == 5.0


def test_the_log_entries_are_json_ready() -> None:
    entry = DeliveryAttempt(event_id=1, event_name="fulfillment.picking", attempt=1,
                            at="2026-01-15T17:00:00.000Z", outcome="delivered", status=200)
    assert format_attempt(entry) == "event 1 fulfillment.picking attempt 1: delivered (HTTP 200)"
    assert entry.model_dump()["next_retry_at"] is None


def test_stop_is_prompt_when_idle_and_start_again_works() -> None:
    engine = CallbackEngine(policy=FAST).start()
    started = time.perf_counter()
    engine.stop()
    assert time.perf_counter() - started < 1
    with Retailer() as retailer:
        engine.configure(config_for(retailer))
        engine.start()
        engine.publish(picking(1))
        assert engine.flush(5)
        engine.stop()
    assert [e["event_id"] for e in retailer.events] == [1]
