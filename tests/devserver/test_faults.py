"""Fault rules: latency, error statuses with the envelope and Retry-After, dropped connections."""

from __future__ import annotations

import time

import httpx
import pytest
from devserver_helpers import Api, assert_error, auth


def _fault(api: Api, **rule: object) -> dict[str, object]:
    r = api.http.post("/_emulator/faults", json=rule)
    assert r.status_code == 200, r.text
    return dict(r.json())


@pytest.mark.parametrize(
    ("status", "code", "retry_after"),
    [(429, 2003, 3), (429, 2003, None), (500, 5000, None), (503, 5000, 7)],
)
def test_status_faults_use_the_envelope(
    api: Api, status: int, code: int, retry_after: int | None
) -> None:
    _fault(api, method="POST", path="/v2/oauth/token", status=status, retry_after=retry_after,
           times=1)  # fmt: skip
    r = api.http.post("/v2/oauth/token", json={})
    assert_error(r, status, code)
    if status == 429:
        assert r.json()["error"]["message"] == "Too many requests, retry later"
    assert r.headers.get("retry-after") == (None if retry_after is None else str(retry_after))
    # times=1: the next request is served normally.
    assert api.http.post("/v2/oauth/token", json={}).status_code == 400


def test_times_counts_down_and_other_routes_are_untouched(api: Api) -> None:
    _fault(api, method="GET", path="/v2/post_checkout/chat/*", status=500, times=2)
    url = "/v2/post_checkout/chat/o/messages"
    assert api.http.get(url).status_code == 500
    assert api.http.post(url).status_code == 401  # other method
    assert api.http.get("/v2/post_checkout/orders/o").status_code == 401  # other path
    assert api.http.get(url).status_code == 500
    assert api.http.get(url).status_code == 401
    assert api.http.get("/_emulator/faults").json() == {"faults": []}


def test_dropped_connection(api: Api) -> None:
    _fault(api, path="/v2/*", drop=True, times=1)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        api.http.get("/v2/post_checkout/orders/o")
    assert api.http.get("/v2/post_checkout/orders/o").status_code == 401


def test_latency(api: Api) -> None:
    _fault(api, path="/v2/post_checkout/*", latency_ms=150, times=1)
    started = time.monotonic()
    assert api.http.get("/v2/post_checkout/orders/o").status_code == 401
    assert time.monotonic() - started >= 0.15


def test_a_client_that_gives_up_during_latency_is_no_server_error(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    _fault(api, method="POST", path="/v2/oauth/token", latency_ms=400, times=1)
    with pytest.raises(httpx.ReadTimeout):
        api.http.post("/v2/oauth/token", json={}, timeout=0.1)
    # The next request waits behind nothing and is answered; the abandoned one logged no error.
    assert api.http.post("/v2/oauth/token", json={}).status_code == 400
    time.sleep(0.5)
    assert [r.getMessage() for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")] == []


def test_probability_is_seeded(api: Api) -> None:
    def pattern() -> list[int]:
        api.http.post("/_emulator/reset")
        _fault(api, path="/v2/*", status=503, probability=0.5)
        return [api.http.get("/v2/post_checkout/orders/o").status_code for _ in range(20)]

    first = pattern()
    assert set(first) == {401, 503}
    assert pattern() == first


def test_control_plane_is_never_faulted_and_faults_are_listed_and_removed(api: Api) -> None:
    rule = _fault(api, path="*", status=500)
    assert api.http.get("/_emulator/health").status_code == 200
    assert [f["id"] for f in api.http.get("/_emulator/faults").json()["faults"]] == [rule["id"]]
    assert api.http.delete(f"/_emulator/faults/{rule['id']}").json() == {"faults": []}
    assert_error(api.http.delete(f"/_emulator/faults/{rule['id']}"), 404, 4000)
    _fault(api, path="*", status=500)
    assert api.http.delete("/_emulator/faults").json() == {"faults": []}
    _fault(api, path="*", status=500)
    api.http.post("/_emulator/reset")
    assert api.http.get("/_emulator/faults").json() == {"faults": []}


@pytest.mark.parametrize(
    ("rule", "key"),
    [
        ({"status": 200}, "status"),
        ({"status": 500, "probability": 2}, "probability"),
        ({"path": "*"}, "status"),
        ({"status": 500, "drop": True}, "drop"),
        ({"status": 500, "colour": "red"}, "colour"),
        ({"status": "500"}, "status"),
        ({"latency_ms": -1}, "latency_ms"),
    ],
)
def test_bad_rules(api: Api, rule: dict[str, object], key: str) -> None:
    assert_error(api.http.post("/_emulator/faults", json=rule), 400, 1001, key)


def _customer_bodies(api: Api, token: str, order_id: str) -> list[str]:
    return [m["body"] for m in api.messages(token, order_id)["chat_messages"]
            if m["sender_type"] == "user"]  # fmt: skip


CHAT_POST = {"method": "POST", "path": "/v2/post_checkout/chat/*"}


def test_a_drop_after_the_handler_stores_the_message_and_loses_the_answer(api: Api) -> None:
    shop = api.shopping()
    rule = _fault(api, **CHAT_POST, drop=True, when="after", times=1)
    assert rule["when"] == "after"
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        api.send(shop.token, shop.order_id, "stored, answer lost")
    assert _customer_bodies(api, shop.token, shop.order_id) == ["stored, answer lost"]


def test_a_status_after_the_handler_replaces_a_committed_answer(api: Api) -> None:
    shop = api.shopping()
    _fault(api, **CHAT_POST, status=503, retry_after=2, when="after", times=1)
    r = api.send(shop.token, shop.order_id, "stored, answered 503")
    assert_error(r, 503, 5000)
    assert r.headers["retry-after"] == "2"
    assert _customer_bodies(api, shop.token, shop.order_id) == ["stored, answered 503"]


def test_latency_after_the_handler_delays_an_answer_already_committed(api: Api) -> None:
    shop = api.shopping()
    _fault(api, **CHAT_POST, latency_ms=600, when="after", times=1)
    with pytest.raises(httpx.ReadTimeout):
        api.http.post(f"/v2/post_checkout/chat/{shop.order_id}/messages",
                      json={"body": "late answer"}, headers=auth(shop.token), timeout=0.2)
    # Stored at once, while the answer still waits (and then goes nowhere).
    assert _customer_bodies(api, shop.token, shop.order_id) == ["late answer"]
    started = time.monotonic()
    _fault(api, **CHAT_POST, latency_ms=200, when="after", times=1)
    assert api.send(shop.token, shop.order_id, "slow but fine").status_code == 200
    assert time.monotonic() - started >= 0.2
    time.sleep(0.5)  # the abandoned answer is sent into a closed connection: no error


def test_latency_before_the_handler_stores_nothing_when_the_client_gives_up(api: Api) -> None:
    shop = api.shopping()
    _fault(api, **CHAT_POST, latency_ms=400, times=1)  # when: before (the default)
    with pytest.raises(httpx.ReadTimeout):
        api.http.post(f"/v2/post_checkout/chat/{shop.order_id}/messages",
                      json={"body": "never stored"}, headers=auth(shop.token), timeout=0.1)
    time.sleep(0.5)
    assert _customer_bodies(api, shop.token, shop.order_id) == []


@pytest.mark.parametrize("when", ["later", "", 1, None, "AFTER"])
def test_when_is_before_or_after(api: Api, when: object) -> None:
    assert_error(api.http.post("/_emulator/faults", json={"status": 500, "when": when}),
                 400, 1001, "when")  # fmt: skip
