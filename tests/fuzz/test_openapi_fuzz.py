"""Fuzzing the Connect routes against the server's own `/openapi.json`.

Schemathesis generates requests from the document (valid and invalid bodies, odd path values)
and sends them to a real development server on loopback, with real tokens and, for most cases,
path parameters naming real records. Every answer must be no 5xx, with a status code, content
type and body the document lists for that operation.

The bounded run is in the default test command (derandomized, so CI sees the same cases every
time); `--run-slow` adds a longer one.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from fuzz_support import FuzzWorld
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from shopper_chat.devserver import create_app
from shopper_chat.devserver.openapi import openapi_document as openapi_document_of_the_server

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
BOUNDED = settings(max_examples=15, derandomize=True, deadline=None, database=None,
                   suppress_health_check=list(HealthCheck))
LONG = settings(max_examples=400, derandomize=True, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))


def _connect_routes() -> set[tuple[str, str]]:
    """(METHOD, path template) of every Connect route in the server's route table."""
    app = create_app(seed=1, clock="2026-01-15T17:00:00Z")
    found = set()
    for route in app.routes:
        path = getattr(route, "path", "")
        if not path.startswith("/v2/"):
            continue
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD":
                found.add((method, path))
    return found


@pytest.fixture(scope="module")
def openapi_document(fuzz_world: FuzzWorld) -> dict[str, Any]:
    answer = httpx.get(f"{fuzz_world.base_url}/openapi.json", timeout=10)
    assert answer.status_code == 200
    document: dict[str, Any] = answer.json()
    return document


# The server's own document, as `/openapi.json` serves it (checked below), Connect routes only.
# (Loaded from the function that `/openapi.json` serves, because schemathesis' lazy
# `from_fixture` loader does not run under pytest 9: it sets `Function._nodeid`, which is gone.)
schema = schemathesis.openapi.from_dict(openapi_document_of_the_server()).include(
    path_regex=r"^/v2/"
)


def test_the_fuzzed_document_is_the_one_the_server_serves(
    openapi_document: dict[str, Any],
) -> None:
    assert openapi_document == openapi_document_of_the_server()


def test_the_document_lists_every_connect_route_and_no_control_route(
    openapi_document: dict[str, Any],
) -> None:
    paths = openapi_document.get("paths", {})
    documented = {(method.upper(), path) for path, item in paths.items() for method in item
                  if method.lower() in ("get", "post", "put", "delete", "patch")}
    missing = sorted(_connect_routes() - documented)
    assert not missing, f"Connect routes missing from /openapi.json: {missing}"
    assert not [p for p in paths if not p.startswith("/v2/")], "non-Connect paths documented"
    for path, item in paths.items():
        for method, operation in item.items():
            if method.lower() not in ("get", "post", "put", "delete", "patch"):
                continue
            codes = set(operation.get("responses", {}))
            assert "200" in codes, (method, path)
            if path != "/v2/oauth/token":
                assert "401" in codes, f"{method.upper()} {path} does not document its 401"


def _prepare(case: Any, world: FuzzWorld) -> dict[str, str]:
    """Point most cases at real records, and choose the token: mostly the right one, sometimes
    none, a bogus one, or another customer's."""
    path = case.path
    if case.path_parameters and world.pick(("ids", case.path_parameters), 3) != 0:
        for name in list(case.path_parameters):
            values = world.known.get(name)
            if not values:
                continue
            if name == "order_id" and "/callbacks" in path:
                values = [world.spare_order]
            choice = world.pick((name, case.path_parameters, case.body), len(values))
            case.path_parameters[name] = values[choice]
    if path == "/v2/oauth/token":
        return {}
    which = world.pick(("auth", case.method, case.path_parameters, case.body, case.query), 10)
    if which == 0:
        return {"Authorization": ""}
    if which == 1:
        return {"Authorization": "Bearer not-a-token"}
    if which == 2:
        return {"Authorization": f"Bearer {world.other_user_token}"}
    if path.startswith("/v2/post_checkout/"):
        token = world.client_token if which == 3 else world.user_token
    else:
        token = world.user_token if which == 3 else world.client_token
    return {"Authorization": f"Bearer {token}"}


def _exercise(case: Any, world: FuzzWorld) -> None:
    headers = _prepare(case, world)
    case.call_and_validate(base_url=world.base_url, headers=headers, checks=CHECKS, timeout=10)


@schema.parametrize()
@BOUNDED
def test_connect_routes_answer_as_documented(case: Any, fuzz_world: FuzzWorld) -> None:
    _exercise(case, fuzz_world)


@pytest.mark.slow
@schema.parametrize()
@LONG
def test_connect_routes_answer_as_documented_long(case: Any, fuzz_world: FuzzWorld) -> None:
    _exercise(case, fuzz_world)


def test_fuzzing_left_the_server_healthy(fuzz_world: FuzzWorld) -> None:
    """After the fuzzing, the server still answers the tutorial's calls on the known order."""
    headers = {"Authorization": f"Bearer {fuzz_world.user_token}"}
    with httpx.Client(base_url=fuzz_world.base_url, headers=headers, timeout=10) as http:
        assert http.get("/_emulator/health").json()["status"] == "ok"
        answer = http.get(f"/v2/post_checkout/chat/{fuzz_world.chat_order}/messages")
        assert answer.status_code == 200
        messages = answer.json()["chat_messages"]
        ids = [m["id"] for m in messages]
        assert ids == sorted(set(ids)) and ids
        assert messages[0]["body"].startswith("Hi, this is Zelma")
