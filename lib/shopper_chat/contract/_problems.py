"""From a pydantic `ValidationError` to the contract's problems: a field key and the API's words.

The one translation both sides use: the development server turns the problems into the error
envelope (one: 1001 with `meta.key`; several: 9999 listing each), the client into its
`InvalidRequestError` before any request is made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from shopper_chat.contract._rules import Messages

__all__ = ["Problem", "field_key", "problems"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request: the field (`items[1].count`) and the API's message."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key} {self.message}"


def field_key(loc: Sequence[int | str], *, first_index: int = 1) -> str:
    """`("items", 0, "count")` as `items[1].count` (the API counts list entries from 1)."""
    key = ""
    for part in loc:
        if isinstance(part, int):
            key += f"[{part + first_index}]"
        else:
            key += f".{part}" if key else str(part)
    return key or "body"


# pydantic's error types, in the API's words (anything else: "is invalid").
_WORDS: dict[str, str] = {
    "missing": Messages.BLANK,
    "too_short": Messages.BLANK,  # a required list given empty
    "string_too_long": Messages.TOO_LONG,
    "literal_error": Messages.NOT_IN_LIST,
    "enum": Messages.NOT_IN_LIST,
    "extra_forbidden": Messages.UNKNOWN_FIELD,
    "greater_than": Messages.GREATER_THAN,
    "greater_than_equal": Messages.GREATER_EQUAL,
    "less_than_equal": Messages.LESS_EQUAL,
}
_PATTERN_WORDS: dict[str, str] = {"email": Messages.INVALID_EMAIL, "phone": Messages.INVALID_PHONE}


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    context: dict[str, Any] = {
        name: int(value) if isinstance(value, float) and value.is_integer() else value
        for name, value in (error.get("ctx") or {}).items()
    }
    if kind == "connect":
        return error["msg"]
    if error.get("input") is None and kind.endswith("_type"):
        return Messages.BLANK  # null where a value is required counts as missing
    if kind == "string_pattern_mismatch":
        field = str(error["loc"][-1]) if error["loc"] else ""
        return _PATTERN_WORDS.get(field, Messages.INVALID)
    words = _WORDS.get(kind)
    if words is None:
        return Messages.INVALID
    try:
        return words.format(**context)
    except (KeyError, IndexError):
        return words


def problems(error: ValidationError, *, prefix: str = "", first_index: int = 1) -> list[Problem]:
    """Every problem of a validation error, in the order of the fields, each field once.

    List entries are counted from `first_index`: 1 as the API counts them, 0 for a Python caller.
    """
    found: list[Problem] = []
    seen: set[str] = set()
    for detail in error.errors(include_url=False):
        loc = tuple(part for part in detail["loc"] if not _is_union_branch(part))
        context = detail.get("ctx") or {}
        if detail["type"] == "connect" and "key" in context:
            loc = (*loc, context["key"])
        key = prefix + field_key(loc, first_index=first_index)
        if key in seen:
            continue  # a union's branches may each report the same field
        seen.add(key)
        found.append(Problem(key, _message(detail)))
    return found


def _is_union_branch(part: int | str) -> bool:
    # `str | None` reports its branches by type name (e.g. "str", "function-after[...]").
    return isinstance(part, str) and (part in ("str", "int", "float", "bool", "none")
                                      or "[" in part)  # fmt: skip
