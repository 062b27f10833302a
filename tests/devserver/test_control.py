"""The control plane: health, reset, seed, clock, shopper settings."""

from __future__ import annotations

from devserver_helpers import Api, assert_error


def test_health(api: Api) -> None:
    body = api.http.get("/_emulator/health").json()
    assert body["status"] == "ok" and body["seed"] == 7 and body["clock_frozen"] is True
    assert body["now"] == "2026-01-15T17:00:00Z"


def test_reset_clears_state_and_restores_seed_and_clock(api: Api) -> None:
    shop = api.shopping()
    api.http.post("/_emulator/clock", json={"advance_seconds": 3600})
    api.http.post("/_emulator/seed", json={"seed": 99})
    api.http.put("/_emulator/shopper", json={"enabled": False})
    api.http.post("/_emulator/reset").raise_for_status()
    assert api.http.get("/_emulator/clock").json()["now"] == "2026-01-15T17:00:00Z"
    assert api.http.get("/_emulator/health").json()["seed"] == 7
    assert api.http.get("/_emulator/shopper").json()["enabled"] is True
    r = api.http.get(f"/v2/post_checkout/orders/{shop.order_id}",
                     headers={"Authorization": f"Bearer {shop.token}"})  # fmt: skip
    assert_error(r, 401, None)  # tokens are state too


def test_seed_restarts_the_id_sequence(api: Api) -> None:
    token = api.client_token()
    first = api.create_shopper(token)
    api.http.post("/_emulator/seed", json={"seed": 7})
    api.http.post("/_emulator/reset")
    token = api.client_token()
    assert api.create_shopper(token) == first
    assert_error(api.http.post("/_emulator/seed", json={"seed": "x"}), 400, 1001, "seed")


def test_clock_moves(api: Api) -> None:
    clock = "/_emulator/clock"
    assert api.http.post(clock, json={"now": "2026-01-16T09:30:00+01:00"}).json()["now"] == (
        "2026-01-16T08:30:00Z"
    )
    assert api.http.post(clock, json={"advance_seconds": 90}).json()["now"] == (
        "2026-01-16T08:31:30Z"
    )
    assert_error(api.http.post(clock, json={"now": "2026-01-01T00:00:00Z"}), 400, 1001, "now")
    assert_error(api.http.post(clock, json={"now": "yesterday"}), 400, 1001, "now")
    assert_error(api.http.post(clock, json={"advance_seconds": -5}), 400, 1001,
                 "advance_seconds")  # fmt: skip
    assert_error(api.http.post(clock, json={}), 400, 1001, "now")
    real = api.http.post(clock, json={"real": True}).json()
    assert real["frozen"] is False and real["now"] > "2026-01-16"


def test_unknown_routes_and_methods(api: Api) -> None:
    assert_error(api.http.get("/v2/nothing/here"), 404, 4000)
    assert_error(api.http.get("/"), 404, 4000)
    r = api.http.delete("/v2/post_checkout/chat/o/messages")
    assert_error(r, 405, None)
    assert set(r.headers["allow"].split(", ")) == {"GET", "HEAD", "POST", "PUT"}
    assert_error(api.http.get("/v2/oauth/token"), 405, None)
