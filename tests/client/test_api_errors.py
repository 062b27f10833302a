"""Each documented error, produced by the development server, surfaces as its exception with
status, code and meta key (and the request's method and path)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from client_support import Shopped
from shopper_chat import (
    APIError,
    AuthenticationError,
    ChatNotAllowedError,
    Client,
    InvalidParameterError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    UserNotFoundError,
    tutorial,
)


def raised(call: Callable[[], Any]) -> APIError:
    with pytest.raises(APIError) as caught:
        call()
    return caught.value


def test_invalid_parameters_name_their_key(client: Client) -> None:
    error = raised(lambda: client.sandbox.create_shopper(email="not-an-email"))
    assert isinstance(error, InvalidParameterError)
    assert (error.status_code, error.code, error.meta_key) == (400, 1001, "email")
    assert error.message == "Invalid email"
    assert (error.method, error.path) == ("POST", "/v2/fulfillment_sandbox/shoppers")

    error = raised(lambda: client.sandbox.create_batch(999999999, ["order-x"]))
    assert isinstance(error, InvalidParameterError)
    assert (error.status_code, error.code, error.meta_key) == (400, 1001, "shopper_id")
    assert error.message == "Shopper not found"


def test_unknown_order_in_a_batch_is_named_by_its_1_based_index(client: Client) -> None:
    shopper = client.sandbox.create_shopper()
    error = raised(lambda: client.sandbox.create_batch(shopper.id, ["no-such-order"]))
    assert isinstance(error, InvalidParameterError)
    assert error.meta_key == "orders[1]" and error.message == "Order not found"


def test_moving_a_batch_backwards_is_refused(client: Client, shopped: Shopped) -> None:
    error = raised(lambda: client.sandbox.advance(shopped.batch_id, "acknowledged"))
    assert isinstance(error, InvalidParameterError)
    assert (error.status_code, error.code, error.meta_key) == (400, 1001, "workflow_state")


def test_an_unknown_batch_is_not_found(client: Client) -> None:
    error = raised(lambda: client.sandbox.advance(424242, "picking"))
    assert isinstance(error, NotFoundError)
    assert (error.status_code, error.code) == (404, 4000)


def test_an_unknown_order_is_not_found(client: Client, shopped: Shopped) -> None:
    error = raised(lambda: client.chat.messages("no-such-order"))
    assert isinstance(error, NotFoundError) and not isinstance(error, UserNotFoundError)
    assert (error.status_code, error.code, error.meta_key) == (404, 4000, None)
    assert error.message == "Resource not found"
    assert error.path == "/v2/post_checkout/chat/no-such-order/messages"


def test_another_customers_order_is_not_found(client: Client, shopped: Shopped) -> None:
    client.fulfillment.create_user("somebody-else", "Else")
    client.set_user("somebody-else")
    error = raised(lambda: client.chat.messages(shopped.order_id))
    assert isinstance(error, NotFoundError) and error.status_code == 404


def test_an_unknown_user_marking_read_is_user_not_found(client: Client, shopped: Shopped) -> None:
    client.set_user("ghost-user")
    error = raised(lambda: client.chat.mark_read(shopped.order_id))
    assert isinstance(error, UserNotFoundError)
    assert (error.status_code, error.code) == (400, 4001)
    assert error.message == "User ID not found"


def test_chat_before_the_order_is_batched_is_not_allowed(client: Client) -> None:
    setup = tutorial.create_order(client)
    client.set_user(setup.user_id)
    error = raised(lambda: client.chat.send(setup.order_id, "Hello?"))
    assert isinstance(error, ChatNotAllowedError) and isinstance(error, PermissionDeniedError)
    assert (error.status_code, error.code) == (403, None)
    assert error.message == "Sending a message is not allowed at this time"


def test_wrong_credentials_are_an_authentication_error(make_client: Callable[..., Client]) -> None:
    client = make_client(client_secret="wrong-secret-value")
    error = raised(lambda: client.sandbox.create_shopper())
    assert isinstance(error, AuthenticationError)
    assert (error.status_code, error.code) == (401, None)
    assert error.path == "/v2/oauth/token"
    assert "wrong-secret-value" not in str(error) + repr(error)


def test_a_bad_user_token_is_an_authentication_error(
    make_client: Callable[..., Client], shopped: Shopped
) -> None:
    client = make_client(client_id=None, client_secret=None, user_token="not-a-real-token")
    error = raised(lambda: client.chat.messages(shopped.order_id))
    assert isinstance(error, AuthenticationError) and error.status_code == 401
    assert "not-a-real-token" not in str(error) + repr(error)


@pytest.mark.parametrize(
    ("status", "expected", "code"),
    [(429, RateLimitError, 2003), (500, ServerError, 5000), (503, ServerError, 5000),
     (408, RequestTimeoutError, None), (403, PermissionDeniedError, None)],
)
def test_server_side_failures_map_by_code_and_status(
    make_client: Callable[..., Client], shopped: Shopped, add_fault: Callable[..., Any],
    status: int, expected: type[APIError], code: int | None,
) -> None:
    client = make_client(max_retries=0)
    client.set_user(shopped.user_id)
    add_fault(method="GET", path="/v2/post_checkout/orders/*", status=status, times=1)
    error = raised(lambda: client.orders.get(shopped.order_id))
    assert type(error) is expected
    assert error.status_code == status
    if code is not None:
        assert error.code == code


def test_the_client_refuses_a_long_body_in_the_servers_own_words(
    devserver: str, client: Client, shopped: Shopped
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        client.chat.send(shopped.order_id, "x" * 1001)
    # The server says the same about the same body sent without the client's check.
    token = client._tokens.user_token(shopped.user_id).get_secret_value()
    answer = httpx.post(
        f"{devserver}/v2/post_checkout/chat/{shopped.order_id}/messages",
        json={"body": "x" * 1001, "image_url": ""},
        headers={"Authorization": f"Bearer {token}"}, timeout=5,
    )
    assert answer.status_code == 400
    server_says = answer.json()
    assert server_says["meta"]["key"] == "body"
    assert server_says["error"]["message"] in str(caught.value)
    # And exactly 1000 characters is fine.
    assert client.chat.send(shopped.order_id, "y" * 1000).id > 0
