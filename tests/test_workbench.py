"""`connect()` and the one rule for the server and credentials (`resolve_connection`).

The people this is for have their real development server's credentials exported; these tests
export made-up ones (`REAL_*`) to prove that they never break an offline run.
"""

from __future__ import annotations

import httpx
import pytest
from shopper_chat import AuthenticationError, ConfigurationError, Secret, connect, tutorial
from shopper_chat._workbench import resolve_connection
from shopper_chat.devserver import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

REAL_ID = "real-server-client-id"
REAL_SECRET = "real-server-secret-0123456789"
URL = "http://127.0.0.1:8765"


@pytest.fixture()
def real_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """A real development server's credentials exported, as the README tells people to."""
    monkeypatch.setenv("CONNECT_CLIENT_ID", REAL_ID)
    monkeypatch.setenv("CONNECT_CLIENT_SECRET", REAL_SECRET)


def pair(environ: dict[str, str], **arguments: str) -> tuple[str | None, str, str | None, str]:
    found = resolve_connection(environ=environ, **arguments)  # type: ignore[arg-type]
    secret = found.client_secret.get_secret_value() if found.client_secret else None
    return found.base_url, found.client_id, secret, found.credentials


LOCAL = (DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, "local")
REAL = {"CONNECT_CLIENT_ID": REAL_ID, "CONNECT_CLIENT_SECRET": REAL_SECRET}


@pytest.mark.parametrize(
    ("environ", "arguments", "expected"),
    [
        ({}, {}, (None, *LOCAL)),
        (REAL, {}, (None, REAL_ID, REAL_SECRET, "yours")),
        ({"CONNECT_CLIENT_ID": REAL_ID}, {}, (None, *LOCAL)),  # half a pair: offline, ignored
        ({"CONNECT_CLIENT_SECRET": " "}, {}, (None, *LOCAL)),
        ({"CONNECT_USER_TOKEN": "tok"}, {}, (None, *LOCAL)),
        ({}, {"client_id": "a", "client_secret": "b"}, (None, "a", "b", "yours")),
        (REAL, {"client_id": "a", "client_secret": "b"}, (None, "a", "b", "yours")),
        ({"CONNECT_BASE_URL": URL}, {}, (URL, *LOCAL)),
        ({"CONNECT_BASE_URL": URL + "/", **REAL}, {}, (URL, REAL_ID, REAL_SECRET, "yours")),
        ({}, {"base_url": URL}, (URL, *LOCAL)),
        ({"CONNECT_BASE_URL": URL, "CONNECT_USER_TOKEN": "tok"}, {}, (URL, "", None, "user token")),
        ({}, {"base_url": URL, "user_token": "tok"}, (URL, "", None, "user token")),
    ],
)
def test_one_rule_for_server_and_credentials(
    environ: dict[str, str], arguments: dict[str, str], expected: tuple[object, ...]
) -> None:
    assert pair(environ, **arguments) == expected


def test_the_secret_stays_a_secret() -> None:
    found = resolve_connection(environ=REAL)
    assert isinstance(found.client_secret, Secret)
    assert REAL_SECRET not in repr(found) and REAL_SECRET not in str(found)


@pytest.mark.parametrize("present", ["CONNECT_CLIENT_ID", "CONNECT_CLIENT_SECRET"])
def test_half_a_pair_with_a_base_url_names_the_missing_half(present: str) -> None:
    missing = ({"CONNECT_CLIENT_ID", "CONNECT_CLIENT_SECRET"} - {present}).pop()
    with pytest.raises(ConfigurationError, match=f"^{missing} is missing: set both"):
        resolve_connection(environ={"CONNECT_BASE_URL": URL, present: "x"})


def test_a_password_in_a_base_url_is_never_repeated() -> None:
    for url in ("https://me:pa55word@x.example", "me:pa55word@x.example"):
        with pytest.raises(ConfigurationError, match="^base_url must not carry credentials") as e:
            resolve_connection(environ={}, base_url=url)
        assert "pa55word" not in str(e.value)
    with pytest.raises(ConfigurationError, match="must not carry a query or a fragment"):
        resolve_connection(environ={}, base_url="https://x.example/?a=1")


@pytest.mark.parametrize(
    ("environ", "arguments", "label"),
    [
        ({}, {"base_url": "not-a-url"}, "base_url"),
        ({}, {"base_url": "ftp://x", "base_url_label": "--base-url"}, "--base-url"),
        ({"CONNECT_BASE_URL": "localhost:8765"}, {}, "CONNECT_BASE_URL"),
    ],
)
def test_a_bad_base_url_is_named_by_where_it_came_from(
    environ: dict[str, str], arguments: dict[str, str], label: str
) -> None:
    with pytest.raises(ConfigurationError, match=f"^{label} must be an http"):
        resolve_connection(environ=environ, **arguments)  # type: ignore[arg-type]


@pytest.mark.usefixtures("real_credentials")
def test_exported_real_credentials_do_not_break_the_embedded_server() -> None:
    with connect(seed=7, clock="2026-01-15T17:00:00Z") as client:
        assert client.is_embedded and client.client_id == REAL_ID
        setup = tutorial.create_order(client)
        tutorial.start_shopping(client, setup.order_id, setup.user_id)
        client.set_user(setup.user_id)
        assert client.chat.wait_for_messages(setup.order_id, timeout=10)
        # The server serves what the client uses: the pair it was given, not also the local one.
        token = httpx.post(f"{client.base_url}/v2/oauth/token", json={
            "client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET,
            "grant_type": "client_credentials", "scope": "connect:fulfillment"}, timeout=5)
        assert token.status_code == 401


def test_an_exported_user_token_is_not_sent_to_the_embedded_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONNECT_USER_TOKEN", "a-token-of-another-server")
    with connect(seed=7, clock="2026-01-15T17:00:00Z") as client:
        setup = tutorial.create_order(client)
        tutorial.start_shopping(client, setup.order_id, setup.user_id)
        assert client.orders.get(setup.order_id).workflow_state == "picking"  # retailer token


def test_a_base_url_without_credentials_uses_the_local_ones(
    devserver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONNECT_BASE_URL", devserver)
    with connect() as client:
        assert not client.is_embedded and client.client_id == DEFAULT_CLIENT_ID
        assert client.sandbox.create_shopper().id > 0


@pytest.mark.usefixtures("real_credentials")
def test_a_base_url_with_credentials_sends_them(devserver: str) -> None:
    with connect(base_url=devserver, max_retries=0) as client, pytest.raises(AuthenticationError):
        client.sandbox.create_shopper()  # the local server does not know the real pair


def test_half_a_pair_with_a_base_url_is_refused_before_any_request(
    devserver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONNECT_CLIENT_SECRET", REAL_SECRET)
    with pytest.raises(ConfigurationError, match="CONNECT_CLIENT_ID is missing") as caught:
        connect(base_url=devserver)
    assert REAL_SECRET not in str(caught.value)
