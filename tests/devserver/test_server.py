"""The Python API: serve/start on loopback, clean stops, configuration from the environment."""

from __future__ import annotations

import socket
import threading
from typing import Any

import httpx
import pytest
from shopper_chat.devserver import DevServerConfig, create_app, serve, start


def _threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name == "shopper-chat-devserver"}


def test_serve_yields_a_connectable_url_and_stops_cleanly() -> None:
    before = _threads()
    with serve(seed=1) as base_url:
        host, port = base_url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=2):
            pass
        assert httpx.get(f"{base_url}/_emulator/health").json()["status"] == "ok"
    assert _threads() == before
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base_url}/_emulator/health", timeout=2)


def test_two_servers_side_by_side() -> None:
    with start(seed=1) as one, start(seed=1) as two:
        assert one.base_url != two.base_url
        assert httpx.get(f"{one.base_url}/_emulator/health").status_code == 200
        assert httpx.get(f"{two.base_url}/_emulator/health").status_code == 200


def test_credentials_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNECT_CLIENT_ID", "retailer-x")
    monkeypatch.setenv("CONNECT_CLIENT_SECRET", "s3cret")
    with serve() as base_url, httpx.Client(base_url=base_url) as http:
        ok = {"client_id": "retailer-x", "client_secret": "s3cret",
              "grant_type": "client_credentials"}  # fmt: skip
        assert http.post("/v2/oauth/token", json=ok).status_code == 200
        default = {**ok, "client_id": "shopper-chat-local",
                   "client_secret": "shopper-chat-local-secret"}  # fmt: skip
        assert http.post("/v2/oauth/token", json=default).status_code == 401


def test_config_errors() -> None:
    with pytest.raises(TypeError):
        start(DevServerConfig(), seed=1)
    with pytest.raises(ValueError, match="shopper script"):
        create_app(shopper_script={"nope": 1})
    with pytest.raises(ValueError):
        create_app(clock="not a time")
    assert "client_secret" not in repr(DevServerConfig(client_secret="x")).split("client_id")[0]
    assert "'x'" not in repr(DevServerConfig(client_secret="x"))


def test_the_direct_router_picks_the_route_starlettes_scan_would() -> None:
    import re

    from shopper_chat.devserver import create_app
    from shopper_chat.devserver.urls import DirectRouter, _key
    from starlette.routing import Match, Route

    router = create_app().router
    assert isinstance(router, DirectRouter)

    def first_full(routes: list[Any], scope: dict[str, Any]) -> Any:
        return next((r for r in routes if r.matches(scope)[0] is Match.FULL), None)

    paths = {re.sub(r"\{[^}]+\}", value, r.path) for r in router.routes if isinstance(r, Route)
             for value in ("1", "order-1", "messages")}  # fmt: skip
    paths |= {p + "/" for p in paths} | {"/", "/v2", "/nothing/here"}
    for path in sorted(paths):
        for method in ("GET", "HEAD", "POST", "PUT", "DELETE"):
            scope = {"type": "http", "path": path, "method": method, "root_path": ""}
            key = _key(path)
            candidates = router._groups.get(key, router._anywhere) if key else router._anywhere
            assert first_full(candidates, scope) is first_full(router.routes, scope), (method, path)
