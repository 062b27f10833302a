"""Checks on the caller's input, made before any request (errors name the argument)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from shopper_chat.client.errors import InvalidRequestError, InvalidTypeError

__all__ = [
    "MAX_BODY_CHARS",
    "check_address",
    "check_choice",
    "check_int_id",
    "check_items",
    "check_optional_str",
    "check_str_id",
    "segment",
]

MAX_BODY_CHARS = 1000
"""The API's limit on a chat message body."""


def _type_name(value: Any) -> str:
    return type(value).__name__


def check_str_id(name: str, value: Any) -> str:
    """A non-empty string id (the retailer's user or order id)."""
    if not isinstance(value, str):
        raise InvalidTypeError(f"{name} must be a str, got {_type_name(value)}", param=name)
    if not value.strip():
        raise InvalidRequestError(f"{name} can't be blank", param=name)
    if value != value.strip() or any(ord(c) < 32 for c in value):
        raise InvalidRequestError(
            f"{name} must not have surrounding spaces or control characters: {value!r}", param=name
        )
    return value


def check_int_id(name: str, value: Any) -> int:
    """A positive integer id (shopper, batch, service option, hold)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidTypeError(f"{name} must be an int, got {_type_name(value)}", param=name)
    if value <= 0:
        raise InvalidRequestError(f"{name} must be positive, got {value}", param=name)
    return value


def check_optional_str(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidTypeError(f"{name} must be a str or None, got {_type_name(value)}",
                               param=name)
    return value


def check_choice(name: str, value: Any, allowed: Sequence[str]) -> str:
    if not isinstance(value, str):
        raise InvalidTypeError(f"{name} must be a str, got {_type_name(value)}", param=name)
    if value not in allowed:
        raise InvalidRequestError(
            f"{name} {value!r} is not one of: {', '.join(allowed)}", param=name
        )
    return value


def check_address(value: Any) -> dict[str, Any]:
    """An address mapping with at least `address_line_1` and `postal_code`."""
    if not isinstance(value, Mapping):
        raise InvalidTypeError(f"address must be a mapping, got {_type_name(value)}",
                               param="address")
    for key in ("address_line_1", "postal_code"):
        if not isinstance(value.get(key), str) or not value[key].strip():
            raise InvalidRequestError(f"address.{key} can't be blank", param=f"address.{key}")
    return dict(value)


def check_items(value: Any) -> list[dict[str, Any]]:
    """Cart items: a non-empty list of mappings, each with `line_num` and `item`."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise InvalidTypeError(f"items must be a list, got {_type_name(value)}", param="items")
    if not value:
        raise InvalidRequestError("items can't be blank", param="items")
    items: list[dict[str, Any]] = []
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise InvalidTypeError(f"items[{i}] must be a mapping, got {_type_name(item)}",
                                   param=f"items[{i}]")
        for key in ("line_num", "item"):
            if key not in item:
                raise InvalidRequestError(f"items[{i}].{key} is missing", param=f"items[{i}].{key}")
        items.append(dict(item))
    return items


def segment(value: str | int) -> str:
    """A path segment, escaped (an id with a `/` cannot reach another route)."""
    return quote(str(value), safe="")
