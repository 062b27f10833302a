"""Bad input is refused before any request, with a clear message naming the argument.

The client points at a port nothing listens on, with no retries: a request would end in
`APIConnectionError`, so getting `InvalidRequestError` proves none was made.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from shopper_chat import (
    ChatPoller,
    Client,
    ConfigurationError,
    InvalidRequestError,
    InvalidTypeError,
)

ADDRESS = {"address_line_1": "1 Main St", "postal_code": "94105"}
ITEMS = [{"line_num": "1", "count": 1, "item": {"upc": "1"}}]


@pytest.fixture()
def offline() -> Iterator[Client]:
    with Client("http://127.0.0.1:9", client_id="id", client_secret="secret",
                max_retries=0, timeout=2) as client:
        client.set_user("customer-1")
        yield client


def test_a_body_over_1000_characters_uses_the_apis_words(offline: Client) -> None:
    with pytest.raises(InvalidRequestError,
                       match=r"is too long \(maximum is 1000 characters\)") as caught:
        offline.chat.send("order-1", "x" * 1001)
    assert caught.value.param == "body"


@pytest.mark.parametrize(
    ("call", "param", "kind"),
    [
        (lambda c: c.chat.send("order-1"), "body", InvalidRequestError),
        (lambda c: c.chat.send("order-1", "", ""), "body", InvalidRequestError),
        (lambda c: c.chat.send("order-1", "hi", "ftp://x/a.png"), "image_url",
         InvalidRequestError),
        (lambda c: c.chat.send("order-1", 42), "body", InvalidTypeError),
        (lambda c: c.chat.send("", "hi"), "order_id", InvalidRequestError),
        (lambda c: c.chat.send(" order-1", "hi"), "order_id", InvalidRequestError),
        (lambda c: c.chat.send(17, "hi"), "order_id", InvalidTypeError),
        (lambda c: c.chat.messages(None), "order_id", InvalidTypeError),
        (lambda c: c.chat.mark_read(""), "order_id", InvalidRequestError),
        (lambda c: c.chat.wait_for_messages("order-1", count=0), "count", InvalidRequestError),
        (lambda c: c.chat.wait_for_messages("order-1", sender_type="shopper"), "sender_type",
         InvalidRequestError),
        (lambda c: c.orders.get(""), "order_id", InvalidRequestError),
        (lambda c: c.sandbox.advance(5, "dancing"), "workflow_state", InvalidRequestError),
        (lambda c: c.sandbox.advance(5, "delivered"), "workflow_state", InvalidRequestError),
        (lambda c: c.sandbox.advance("5", "picking"), "batch_id", InvalidTypeError),
        (lambda c: c.sandbox.advance(True, "picking"), "batch_id", InvalidTypeError),
        (lambda c: c.sandbox.advance(0), "batch_id", InvalidRequestError),
        (lambda c: c.sandbox.create_batch(1, []), "orders", InvalidRequestError),
        (lambda c: c.sandbox.create_batch(1, "order-1"), "orders", InvalidTypeError),
        (lambda c: c.sandbox.create_batch(1, ["o"], batch_type="bike"), "batch_type",
         InvalidRequestError),
        (lambda c: c.sandbox.create_shopper(email=5), "email", InvalidTypeError),
        (lambda c: c.sandbox.update_item(1, "o", "1", "lost"), "status", InvalidRequestError),
        (lambda c: c.sandbox.update_item(1, "o", "1", "replaced"), "replacement_item",
         InvalidRequestError),
        (lambda c: c.sandbox.callback("o", "exploded"), "event_name", InvalidRequestError),
        (lambda c: c.fulfillment.create_user("", "Sierra"), "user_id", InvalidRequestError),
        (lambda c: c.fulfillment.reserve("u", "5"), "service_option_id", InvalidTypeError),
        (lambda c: c.fulfillment.delivery_options("u", {"postal_code": "1"}, ITEMS),
         "address.address_line_1", InvalidRequestError),
        (lambda c: c.fulfillment.delivery_options("u", ADDRESS, []), "items",
         InvalidRequestError),
        (lambda c: c.fulfillment.create_delivery_order("u", "o", 1, ADDRESS, ITEMS,
                                                       initial_tip_cents=-1),
         "initial_tip_cents", InvalidRequestError),
        (lambda c: c.set_user(""), "user_id", InvalidRequestError),
    ],
)
def test_bad_input_is_refused_before_any_request(
    offline: Client, call: Callable[[Client], Any], param: str, kind: type[Exception]
) -> None:
    with pytest.raises(kind) as caught:
        call(offline)
    assert isinstance(caught.value, InvalidRequestError)
    assert caught.value.param == param
    assert str(caught.value)


def test_the_poller_refuses_unknown_stop_states(offline: Client) -> None:
    with pytest.raises(InvalidRequestError, match="unknown workflow state"):
        ChatPoller(offline, "order-1", stop_states=("chekout",))
    with pytest.raises(InvalidRequestError):
        ChatPoller(offline, "order-1", stop_states="checkout")
    with pytest.raises(InvalidRequestError):
        ChatPoller(offline, "order-1", interval=0)


def test_configuration_errors_say_what_to_set() -> None:
    with pytest.raises(ConfigurationError, match="CONNECT_BASE_URL"):
        Client()
    with pytest.raises(ConfigurationError, match="CONNECT_BASE_URL"):
        Client.from_env()
    with pytest.raises(ConfigurationError, match="http"):
        Client("example.com")
    with pytest.raises(ConfigurationError, match="credentials"):
        Client("https://user:pw@example.com")


def test_configuration_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNECT_BASE_URL", "https://dev.example.com/")
    monkeypatch.setenv("CONNECT_CLIENT_ID", "retailer")
    monkeypatch.setenv("CONNECT_CLIENT_SECRET", "the-secret-value")
    monkeypatch.setenv("CONNECT_USER_TOKEN", "the-user-token-value")
    with Client.from_env(max_retries=1) as client:
        assert client.base_url == "https://dev.example.com"
        assert client.client_id == "retailer"
        assert client.max_retries == 1
        shown = repr(client) + str(vars(client))
        assert "the-secret-value" not in shown and "the-user-token-value" not in shown


def test_missing_credentials_are_reported_when_a_token_is_needed() -> None:
    with Client("http://127.0.0.1:9", max_retries=0) as client, \
            pytest.raises(ConfigurationError, match="CONNECT_CLIENT_ID"):
        client.sandbox.create_shopper()


def test_a_closed_client_says_so(offline: Client) -> None:
    offline.close()
    offline.close()  # closing twice is fine
    with pytest.raises(ConfigurationError, match="closed"):
        offline.chat.send("order-1", "hi")
    with pytest.raises(ConfigurationError, match="closed"):
        offline.chat.messages("order-1")
