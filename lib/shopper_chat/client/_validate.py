"""Checks on the caller's input, made before any request, with the contract's own types.

A request body is checked by its contract model (`check`), an argument that goes into a path by
its contract type (`check_id`). What the contract refuses becomes an `InvalidRequestError` naming
the argument (`param`, the first one) and listing every problem (`problems`) in the API's words;
an argument of the wrong Python type is an `InvalidTypeError` (also a `TypeError`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, TypeAdapter, ValidationError

from shopper_chat.client._parse import EXPECTED
from shopper_chat.client.errors import InvalidRequestError, InvalidTypeError
from shopper_chat.contract import MessageRequest, OptionalText, PositiveInt, RetailerId, problems

__all__ = ["check", "check_id", "check_message", "check_number_id", "check_text",
           "refused", "segment"]


def check(model: type[BaseModel], **fields: Any) -> dict[str, Any]:
    """The request body of `fields` once the contract's request `model` takes them, or the error
    saying everything wrong with them. Mappings and sequences are made plain dicts and lists (as
    the strict models and JSON take them); None is left out of the body."""
    plain = {name: _plain(value) for name, value in fields.items()}
    try:
        model.model_validate(plain)
    except ValidationError as exc:
        raise refused(exc) from None
    return {name: value for name, value in plain.items() if value is not None}


def check_id(name: str, value: Any) -> str:
    """A retailer's id (user, order): a string the contract's `RetailerId` takes."""
    return _checked(_RETAILER_ID, name, value)  # type: ignore[no-any-return]


def check_number_id(name: str, value: Any) -> int:
    """An id Instacart gives as a number (shopper, batch, slot, hold): a `PositiveInt`."""
    return _checked(_NUMBER_ID, name, value)  # type: ignore[no-any-return]


def check_text(name: str, value: Any) -> str | None:
    """An optional text (`OptionalText`: a str or None; "" counts as absent)."""
    return _checked(_TEXT, name, value)  # type: ignore[no-any-return]


# One-entry mappings, so that a problem is named after the argument.
_RETAILER_ID: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, RetailerId])
_NUMBER_ID: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, PositiveInt])
_TEXT: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, OptionalText])


def _checked(adapter: TypeAdapter[dict[str, Any]], name: str, value: Any) -> Any:
    try:
        return adapter.validate_python({name: value})[name]
    except ValidationError as exc:
        raise refused(exc) from None


def check_message(body: str | None = None, image_url: str | None = None) -> MessageRequest:
    """A chat message as the API will take it, checked before any request: text or an image URL
    or both ("" counts as absent), at most the contract's length, an http(s) image URL.

    The chat panel and `client.chat.send` both check here. Raises `InvalidRequestError` listing
    every problem (a text too long and a bad image URL: both), `InvalidTypeError` for a value that
    is not a str.
    """
    try:
        return MessageRequest.model_validate({"body": body, "image_url": image_url})
    except ValidationError as exc:
        error = refused(exc)
    if error.param == "image_url" and not isinstance(error, InvalidTypeError):
        hint = f"expected an http(s) URL, got {image_url!r}"
        error = InvalidRequestError(f"{error.message} ({hint})", param=error.param,
                                    problems=error.problems)
    raise error


def refused(exc: ValidationError) -> InvalidRequestError:
    """A validation error of the caller's input as the error to raise."""
    found = problems(exc, first_index=0)  # a Python caller counts list entries from 0
    first = exc.errors(include_url=False)[0]
    if first["type"] in EXPECTED:
        # A Python value of the wrong type (None for a required one included).
        given = type(first.get("input")).__name__
        return InvalidTypeError(f"{found[0].key} must be {EXPECTED[first['type']]}, got {given}",
                                param=found[0].key, problems=found)
    return InvalidRequestError("; ".join(str(p) for p in found), param=found[0].key,
                               problems=found)


def segment(value: str | int) -> str:
    """A path segment, escaped (an id with a `/` cannot reach another route)."""
    return quote(str(value), safe="")


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value
