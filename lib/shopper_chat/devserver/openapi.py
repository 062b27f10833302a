"""The server's OpenAPI 3.1 document, generated from the route table and the contract's models.

`/openapi.json` serves it, and `openapi.json` at the top of the repository is a copy (a test keeps
them equal). The Connect routes are the document's `paths`; the control plane is listed apart,
in the same form, under the top-level extension `x-emulator`, so that nothing there can be
mistaken for a Connect path. Regenerate the copy with

    python -m shopper_chat.devserver.openapi > openapi.json

`ranges_table()` is the README's table of the control plane's ranges, made from the same models
(`python -m shopper_chat.devserver.openapi --ranges` prints it).
"""

from __future__ import annotations

import json
import re
import sys
import typing
from collections.abc import Sequence
from typing import Any

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from shopper_chat import __version__
from shopper_chat.contract import ErrorEnvelope

from .urls import CONNECT, CONTROL, INTEGER_PARAMS, Operation

__all__ = ["openapi_document", "ranges_table", "render"]

Schema = dict[str, Any]

#: What fault rules answer most (any Connect route may get them), beside each route's own errors.
FAULT_STATUSES = (408, 429, 500, 503)

_ERROR_TEXT = {
    400: "Invalid parameter (code 1001, meta.key names it), several (code 9999), or 4001",
    401: "Access token missing, invalid or expired (code null)",
    403: "Not allowed (code null)",
    404: "Resource not found (code 4000; 4001 for an unknown user in a Fulfillment URL)",
    408: "Request timeout",
    429: "Too many requests, retry later (code 2003); Retry-After may be present",
    500: "Unexpected error (code 5000)",
    503: "Service unavailable (code 5000); Retry-After may be present",
}
_INTERNAL = {
    "name": "X-Treat-Ids-As-Internal",
    "in": "header",
    "required": False,
    "description": "`true`: the path's order id is Instacart's internal (integer) order id",
    "schema": {"type": "string", "enum": ["true", "false"]},
}


def _schemas(operations: Sequence[Operation], ref: str) -> tuple[dict[Any, Schema], Schema]:
    # Bodies are described as they are read, answers as they are written. The error envelope is
    # described as it is read: parts that do not apply (`meta.key`, `error.errors`) are left out.
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorEnvelope, "validation")]
    for op in operations:
        if op.body is not None:
            wanted.append((op.body, "validation"))
        if op.answer is not None:
            wanted.append((op.answer, "serialization"))
    refs, definitions = models_json_schema(list(dict.fromkeys(wanted)), ref_template=ref)
    return refs, definitions.get("$defs", {})


def _error(status: int, envelope: Schema) -> Schema:
    response: Schema = {"description": _ERROR_TEXT[status],
                        "content": {"application/json": {"schema": envelope}}}  # fmt: skip
    if status in (429, 503):
        response["headers"] = {"Retry-After": {"description": "seconds to wait",
                                               "schema": {"type": "string",
                                                          "pattern": r"^\d+$"}}}  # fmt: skip
    return response


def _operation(op: Operation, refs: dict[Any, Schema], *, connect: bool) -> Schema:
    envelope = refs[(ErrorEnvelope, "validation")]
    ok: Schema = {"description": "OK"}
    if op.answer is None:
        ok["content"] = {"image/svg+xml": {"schema": {"type": "string"}}}
    else:
        ok["content"] = {"application/json": {"schema": refs[(op.answer, "serialization")]}}
    statuses = sorted({*op.errors, *(FAULT_STATUSES if connect else ())})
    operation: Schema = {
        "operationId": op.handler,
        "summary": op.summary,
        "tags": [op.tag],
        "responses": {
            "200": ok,
            **{str(status): _error(status, envelope) for status in statuses},
            "default": {"description": "Any other error, in the same envelope",
                        "content": {"application/json": {"schema": envelope}}},
        },
    }  # fmt: skip
    if not connect or op.path == "/v2/oauth/token":
        operation["security"] = []
    parameters = [
        {"name": name, "in": "path", "required": True,
         "schema": {"type": "integer", "minimum": 0} if name in INTEGER_PARAMS
         else {"type": "string"}}
        for name in re.findall(r"{(\w+)}", op.path)
    ]  # fmt: skip
    if op.internal_ids:
        parameters.append(_INTERNAL)
    if parameters:
        operation["parameters"] = parameters
    if op.body is not None:
        required = any(field.is_required() for field in op.body.model_fields.values())
        operation["requestBody"] = {
            "required": required,
            "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
        }
    return operation


def _paths(operations: Sequence[Operation], ref: str, *, connect: bool) -> tuple[Schema, Schema]:
    refs, schemas = _schemas(operations, ref)
    paths: Schema = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, refs, connect=connect)
    return paths, schemas


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the Connect routes, the control plane under `x-emulator`."""
    paths, schemas = _paths(CONNECT, "#/components/schemas/{model}", connect=True)
    control, control_schemas = _paths(CONTROL, "#/x-emulator/components/schemas/{model}",
                                      connect=False)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "shopper-chat development server (Instacart Connect subset)",
            "version": __version__,
            "description": "The Connect routes of the shopper-customer chat tutorial, as the "
            "local development server answers them, generated from the contract's models "
            "(`shopper_chat.contract`). Every error uses the documented envelope. The "
            "development server's control plane is listed apart under `x-emulator`.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "tags": [{"name": name} for name in ("auth", "fulfillment", "sandbox", "post_checkout")],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "x-emulator": {
            "description": "Control plane of the development server (not part of Connect).",
            "paths": control,
            "components": {"schemas": control_schemas},
        },
    }


def _number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def _range(field: FieldInfo) -> str | None:
    """A field's range in words, from its constraints (None: a field without one)."""
    low = high = None
    for constraint in field.metadata:
        if isinstance(constraint, annotated_types.Ge):
            low = _number(constraint.ge)
        elif isinstance(constraint, annotated_types.Le):
            high = _number(constraint.le)
    if low is not None and high is not None:
        return f"{low} to {high}"
    extra = field.json_schema_extra
    if isinstance(extra, dict) and "x-range" in extra:
        return str(extra["x-range"])
    choices = [a for a in typing.get_args(field.annotation) if isinstance(a, str)]
    if typing.get_origin(field.annotation) is typing.Literal and choices:
        return " or ".join(f"`{c}`" for c in choices) + f" (default `{field.default}`)"
    return None


def ranges_table() -> str:
    """The README's table: every control-plane field with a range, as the models define it."""
    from .shopper import MAX_DELAY

    rows = ["| route | field | range | what |", "|---|---|---|---|"]
    for op in CONTROL:
        for name, field in (op.body.model_fields.items() if op.body is not None else ()):
            bounds = _range(field)
            if bounds is not None:
                rows.append(f"| {op.method} `{op.path}` | `{name}` | {bounds} | "
                            f"{field.description or ''} |")
    rows.append(f"| PUT `/_emulator/shopper` | `script`: `greeting_delay`, `reply_delay`, "
                f"`replacement.delay` | 0 to {MAX_DELAY:,} | seconds |")
    return "\n".join(rows) + "\n"


def render(data: dict[str, Any]) -> str:
    """The document as the repository keeps it: pretty-printed, keys sorted, a final newline."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"



if __name__ == "__main__":
    print(ranges_table() if "--ranges" in sys.argv[1:] else render(openapi_document()), end="")
