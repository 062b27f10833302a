"""Reading answers: the one function that turns JSON into the contract's models.

`parse(Model, data)` validates with the contract's pydantic model and turns a `ValidationError`
into a `ResponseShapeError` naming the first wrong field by its path
(`chat_messages[2].created_at: expected an ISO 8601 string, got 42`). The models accept fields they
do not know (a real server may add some) and are strict about the documented ones.

`MessageCache` keeps a long conversation's poll cheap: a message seen before, whose read state has
not moved, is not validated again (see `benchmarks/README.md`, benchmark 2).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from shopper_chat.client.errors import ResponseShapeError
from shopper_chat.contract import ChatMessage, Conversation, field_key

__all__ = ["MessageCache", "parse", "shape_problems"]

M = TypeVar("M", bound=BaseModel)

# pydantic's error types in the words of a shape problem; the contract's own validators (times,
# tokens) already say "expected ..., got ...".
EXPECTED: dict[str, str] = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "float_type": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
}


def parse(model: type[M], data: Any, *, at: Sequence[int | str] = ()) -> M:
    """`model` read from `data` (parsed JSON), or `ResponseShapeError` naming the first wrong field.

    `at` is where `data` sits in the whole answer (a message of a conversation:
    `("chat_messages", 2)`), so that the field is named from the answer's top.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        field, problem = _shapes(exc, at)[0]
        raise ResponseShapeError(field, problem) from None


def shape_problems(
    model: type[BaseModel], data: Any, *, at: Sequence[int | str] = ()
) -> list[tuple[str, str]]:
    """Every field of `data` that `model` refuses, as `(field, problem)`: what `parse` would say
    about each, not only the first ([] when `parse` reads it). `shopper-chat check` uses it to
    tell which of a server's differences the client copes with."""
    try:
        model.model_validate(data)
    except ValidationError as exc:
        return _shapes(exc, at)
    return []


def _shapes(exc: ValidationError, at: Sequence[int | str]) -> list[tuple[str, str]]:
    found: dict[str, str] = {}
    for detail in exc.errors(include_url=False):
        loc = (*at, *(part for part in detail["loc"] if not _union_branch(part)))
        field = field_key(loc, first_index=0) if loc else "(response)"
        found.setdefault(field, _problem(detail))  # a union's branches may repeat a field
    return list(found.items())


def _problem(detail: ErrorDetails) -> str:
    kind = detail["type"]
    got = _show(detail.get("input"))
    if kind == "missing":
        return "missing"
    if kind == "literal_error":
        # pydantic lists the choices as "'a', 'b' or 'c'"; a shape problem lists them plainly.
        expected = str((detail.get("ctx") or {}).get("expected", ""))
        head, _, last = expected.rpartition(" or ")
        return f"expected one of {head + ', ' + last if head else last}, got {got}"
    if kind in EXPECTED:
        return f"expected {EXPECTED[kind]}, got {got}"
    message = detail["msg"]
    if message.startswith("expected"):
        return message
    return f"{message[:1].lower()}{message[1:]}, got {got}"


def _union_branch(part: int | str) -> bool:
    # A union names the branch that failed ("str", "function-after[...]"): not a field.
    return isinstance(part, str) and ("[" in part or part in ("str", "int", "bool", "none"))


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class MessageCache:
    """Chat messages by id, with the raw read state each was read from.

    The API changes a stored message only by marking it read, so a message whose id, `read` and
    `read_at` are as before is the same message: the model read then is returned as it is, and a
    poll of a long conversation validates only what is new or newly read.
    """

    def __init__(self) -> None:
        self._by_id: dict[int, tuple[Any, Any, ChatMessage]] = {}

    def conversation(self, data: Any) -> Conversation:
        """`parse(Conversation, data)`, reusing each message read before if unchanged."""
        items = data.get("chat_messages") if isinstance(data, Mapping) else None
        if not isinstance(items, list):
            return parse(Conversation, data)  # not a conversation: let parse name the problem
        messages = [self._message(item, i) for i, item in enumerate(items)]
        # Model instances are taken as they are: this costs one check per message.
        return parse(Conversation, {**data, "chat_messages": messages})

    def _message(self, item: Any, index: int) -> ChatMessage:
        if isinstance(item, Mapping):
            key = item.get("id")
            hit = self._by_id.get(key) if type(key) is int else None
            if hit is not None and hit[0] == item.get("read") and hit[1] == item.get("read_at"):
                return hit[2]
        message = parse(ChatMessage, item, at=("chat_messages", index))
        self._by_id[message.id] = (item.get("read"), item.get("read_at"), message)
        return message
