"""The one mapping from an error answer to its exception: documented `code` first, then status."""

from __future__ import annotations

import json

import pytest
from shopper_chat import errors
from shopper_chat.errors import error_from_response

CHAT = "/v2/post_checkout/chat/order-1/messages"


def envelope(message: str, code: int | None, key: str | None = None) -> bytes:
    meta = {"key": key} if key is not None else {}
    return json.dumps({"error": {"message": message, "code": code}, "meta": meta}).encode()


@pytest.mark.parametrize(
    ("status", "body", "path", "expected", "code", "key"),
    [
        (400, envelope("is too long (maximum is 1000 characters)", 1001, "body"), CHAT,
         errors.InvalidParameterError, 1001, "body"),
        (400, envelope("User ID not found", 4001), CHAT, errors.UserNotFoundError, 4001, None),
        (401, envelope("Invalid access token", None), CHAT, errors.AuthenticationError, None,
         None),
        (403, envelope("Sending a message is not allowed at this time", None), CHAT,
         errors.ChatNotAllowedError, None, None),
        (403, envelope("Forbidden", None), "/v2/oauth/token", errors.PermissionDeniedError, None,
         None),
        (404, envelope("Resource not found", 4000), CHAT, errors.NotFoundError, 4000, None),
        (408, b"", CHAT, errors.RequestTimeoutError, None, None),
        (429, envelope("Too many requests, retry later", 2003), CHAT, errors.RateLimitError,
         2003, None),
        (500, envelope("Unexpected error", 5000), CHAT, errors.ServerError, 5000, None),
        (503, envelope("Unexpected error", 5000), CHAT, errors.ServerError, 5000, None),
        (502, b"<html>bad gateway</html>", CHAT, errors.ServerError, None, None),
        # The code wins over the status: a 503 saying "retry later" is a rate limit.
        (503, envelope("Too many requests, retry later", 2003), CHAT, errors.RateLimitError,
         2003, None),
        (418, b"", CHAT, errors.APIError, None, None),
    ],
)
def test_each_documented_error_maps_to_its_class(
    status: int, body: bytes, path: str, expected: type[errors.APIError], code: int | None,
    key: str | None,
) -> None:
    error = error_from_response(status, body, method="POST", path=path)
    assert type(error) is expected
    assert error.status_code == status
    assert error.code == code
    assert error.meta_key == key
    assert error.method == "POST" and error.path == path
    assert isinstance(error, errors.ConnectError)


def test_several_errors_keep_each_one_and_name_the_first_key() -> None:
    body = {"error": {"message": "There were issues with your request", "code": 9999,
                      "errors": [
                          {"error": {"message": "can't be blank", "code": 1001},
                           "meta": {"key": "body"}},
                          {"error": {"message": "is invalid", "code": 1001},
                           "meta": {"key": "image_url"}},
                      ]}, "meta": {}}
    error = error_from_response(400, json.dumps(body), method="POST", path=CHAT)
    assert isinstance(error, errors.InvalidParameterError)
    assert error.code == 9999 and error.meta_key == "body"
    assert [(e.meta_key, e.message) for e in error.errors] == [
        ("body", "can't be blank"), ("image_url", "is invalid")]
    assert "body can't be blank" in str(error) and "image_url is invalid" in str(error)


def test_the_message_speaks_the_apis_words_and_names_the_request() -> None:
    error = error_from_response(
        400, envelope("is too long (maximum is 1000 characters)", 1001, "body"),
        method="POST", path=CHAT, retry_after=None,
    )
    text = str(error)
    assert "body is too long (maximum is 1000 characters)" in text
    assert "HTTP 400" in text and "code 1001" in text and "'body'" in text
    assert f"POST {CHAT}" in text
    assert error.message == "is too long (maximum is 1000 characters)"
    assert "status_code=400" in repr(error) and "meta_key='body'" in repr(error)


def test_retry_after_is_kept_on_the_error() -> None:
    error = error_from_response(429, envelope("Too many requests, retry later", 2003),
                                method="GET", path=CHAT, retry_after=1.5)
    assert isinstance(error, errors.RateLimitError) and error.retry_after == 1.5


def test_client_side_errors_are_value_and_type_errors() -> None:
    assert issubclass(errors.InvalidRequestError, ValueError)
    assert issubclass(errors.InvalidTypeError, TypeError)
    assert issubclass(errors.InvalidTypeError, errors.InvalidRequestError)
    assert issubclass(errors.ChatNotAllowedError, errors.PermissionDeniedError)
    assert issubclass(errors.UserNotFoundError, errors.NotFoundError)
    assert issubclass(errors.APITimeoutError, errors.APIConnectionError)
    assert issubclass(errors.WaitTimeout, TimeoutError)


def test_the_tree_in_the_docstring_lists_every_error_class() -> None:
    from shopper_chat.client import errors as module

    doc = module.__doc__ or ""
    for name in module.__all__:
        value = getattr(module, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert name in doc, f"{name} is missing from the tree in errors.py's docstring"


def test_errors_survive_pickling_and_copying() -> None:
    import copy
    import pickle

    error = error_from_response(400, envelope("Invalid email", 1001, "email"), method="POST",
                                path="/v2/fulfillment_sandbox/shoppers")
    for clone in (pickle.loads(pickle.dumps(error)), copy.copy(error)):
        assert type(clone) is errors.InvalidParameterError
        assert (clone.status_code, clone.code, clone.meta_key) == (400, 1001, "email")
        assert str(clone) == str(error)
    shape = pickle.loads(pickle.dumps(errors.ResponseShapeError("id", "missing")))
    assert shape.field == "id" and str(shape) == "id: missing"
    bad = pickle.loads(pickle.dumps(errors.InvalidRequestError("x can't be blank", param="x")))
    assert bad.param == "x"
