"""Handlers: parse the request, call the backend, serialize the answer. No rules live here."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from . import workflow
from .clock import parse_time
from .exceptions import Forbidden, InvalidParameter, MultipleErrors, ResourceNotFound
from .models import MAX_MESSAGE_LENGTH, Caller, ConnectBackend, MessageView
from .openapi import IMAGE_URL_PATTERN
from .shopper import ScriptError, parse_script, script_to_dict

__all__ = ["ConnectResponses", "EmulatorResponses", "Fields", "MAX_BODY_BYTES", "read_json"]

MAX_BODY_BYTES = 64 * 1024
_URL = re.compile(IMAGE_URL_PATTERN.removeprefix("^").removesuffix("$"))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def read_json(request: Request) -> dict[str, Any]:
    """The request's JSON object ({} for an empty body), or 400/1001 key `body`."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
        raise InvalidParameter(f"is too large (maximum is {MAX_BODY_BYTES} bytes)", key="body")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise InvalidParameter(f"is too large (maximum is {MAX_BODY_BYTES} bytes)", key="body")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise InvalidParameter("is not valid JSON", key="body") from None
    if not isinstance(data, dict):
        raise InvalidParameter("must be a JSON object", key="body")
    try:
        # JSON may spell lone UTF-16 surrogates ("\\udb07"), which no UTF-8 answer can carry.
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidParameter("contains a lone surrogate (invalid Unicode)", key="body") from None
    return data



def _conversation_response(page: dict[str, Any]) -> Response:
    """A chat GET's JSON, as JSONResponse would write it, reusing each message's JSON text."""
    messages: list[MessageView] = page["chat_messages"]
    rest = json.dumps({k: v for k, v in page.items() if k != "chat_messages"},
                      ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    texts = ",".join(m.json for m in messages)
    body = '{"chat_messages":[' + texts + "]" + ("," + rest[1:] if rest != "{}" else "}")
    return Response(body.encode("utf-8"), media_type="application/json")

class Fields:
    """Typed reads from a JSON object, collecting every problem before raising once."""

    def __init__(self, data: dict[str, Any], prefix: str = "", *, strict: bool = False) -> None:
        self.data = data
        self.prefix = prefix
        self.errors: list[InvalidParameter] = []
        self._strict = strict
        self._known: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def fail(self, key: str, message: str) -> None:
        """Record a problem with `key`."""
        self.errors.append(InvalidParameter(message, key=self._key(key)))

    def _get(self, key: str, required: bool) -> Any:
        self._known.add(key)
        value = self.data.get(key)
        if value is None and required:
            self.fail(key, "can't be blank")
        return value

    def text(self, key: str, *, required: bool = False, blank: bool = True) -> str | None:
        """A string; `blank=False` refuses "" when required."""
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, str):
            self.fail(key, "is invalid")
            return None
        if required and not blank and not value.strip():
            self.fail(key, "can't be blank")
            return None
        return value

    def integer(
        self, key: str, *, required: bool = False, minimum: int | None = None
    ) -> int | None:
        """An integer (not a bool, not a float)."""
        value = self._get(key, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, "is invalid")
            return None
        if minimum is not None and value < minimum:
            self.fail(key, f"must be greater than or equal to {minimum}")
            return None
        return value

    def number(self, key: str, *, required: bool = False, positive: bool = False) -> float | None:
        """A finite number."""
        value = self._get(key, required)
        if value is None:
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            self.fail(key, "is invalid")
            return None
        if positive and value <= 0:
            self.fail(key, "must be greater than 0")
            return None
        if value < 0:
            self.fail(key, "must be greater than or equal to 0")
            return None
        return float(value)

    def boolean(self, key: str, *, required: bool = False) -> bool | None:
        """A JSON boolean."""
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, bool):
            self.fail(key, "is invalid")
            return None
        return value

    def object(self, key: str, *, required: bool = False) -> dict[str, Any] | None:
        """A JSON object."""
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, dict):
            self.fail(key, "is invalid")
            return None
        return value

    def array(self, key: str, *, required: bool = False) -> list[Any] | None:
        """A JSON array (a required one must not be empty)."""
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, list):
            self.fail(key, "is invalid")
            return None
        if required and not value:
            self.fail(key, "can't be blank")
            return None
        return value

    def choice(self, key: str, options: tuple[str, ...], *, required: bool = False) -> str | None:
        """One of `options`."""
        value = self.text(key, required=required)
        if value is not None and value not in options:
            self.fail(key, "is not included in the list")
            return None
        return value

    def merge(self, other: Fields) -> None:
        """Take over another reader's problems (nested objects)."""
        self.errors.extend(other.errors)

    def done(self) -> None:
        """Raise the collected problems: one as itself, several as 9999."""
        if self._strict:
            for key in self.data:
                if key not in self._known:
                    self.fail(key, "is not a known field")
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise MultipleErrors(self.errors)


def _address(fields: Fields, key: str) -> dict[str, Any] | None:
    value = fields.object(key, required=True)
    if value is None:
        return None
    sub = Fields(value, prefix=f"{key}.")
    sub.text("address_line_1", required=True, blank=False)
    sub.text("postal_code", required=True, blank=False)
    for optional in ("address_line_2", "address_type", "city", "state", "country"):
        sub.text(optional)
    fields.merge(sub)
    return value


def _item_code(fields: Fields, key: str, *, required: bool = True) -> dict[str, Any] | None:
    value = fields.object(key, required=required)
    if value is None:
        return None
    sub = Fields(value, prefix=f"{fields.prefix}{key}.")
    upc = sub.text("upc")
    rrc = sub.text("rrc")
    if not sub.errors and not (upc or rrc):
        sub.fail("upc", "can't be blank")
    fields.merge(sub)
    return value


def _items(fields: Fields, key: str) -> list[dict[str, Any]] | None:
    value = fields.array(key, required=True)
    if value is None:
        return None
    for index, entry in enumerate(value, start=1):
        where = f"{key}[{index}]"
        if not isinstance(entry, dict):
            fields.fail(where, "is invalid")
            continue
        sub = Fields(entry, prefix=f"{where}.")
        sub.text("line_num", required=True, blank=False)
        count = sub.number("count", positive=True)
        weight = sub.number("weight", positive=True)
        if count is None and weight is None and not sub.errors:
            sub.fail("count", "can't be blank")
        _item_code(sub, "item")
        sub.text("special_instructions")
        fields.merge(sub)
    return value


def _message_fields(data: dict[str, Any]) -> tuple[str, str]:
    """A chat message's text and image URL ("" for absent), as the contract's decisions say."""
    fields = Fields(data)
    body = fields.text("body") or ""
    image_url = fields.text("image_url") or ""
    fields.done()
    if not body and not image_url:
        raise InvalidParameter("can't be blank", key="body")
    if len(body) > MAX_MESSAGE_LENGTH:
        raise InvalidParameter(
            f"is too long (maximum is {MAX_MESSAGE_LENGTH} characters)", key="body"
        )
    if image_url and not _URL.fullmatch(image_url):
        raise InvalidParameter("is invalid", key="image_url")
    return body, image_url


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _internal(request: Request) -> bool:
    return request.headers.get("x-treat-ids-as-internal", "").strip().lower() == "true"


def _path_int(request: Request, name: str) -> int:
    value = request.path_params[name]
    if not isinstance(value, str) or not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise ResourceNotFound()
    return int(value)


class ConnectResponses:
    """The Connect API's routes."""

    def __init__(self, backend: ConnectBackend) -> None:
        self.backend = backend

    def _caller(self, request: Request) -> Caller:
        return self.backend.authenticate(_bearer(request))

    # tokens -------------------------------------------------------------
    async def create_token(self, request: Request) -> Response:
        if {"client_id", "client_secret"} & set(request.query_params.keys()):
            raise Forbidden("Client credentials must be sent in the request body, not the URL")
        fields = Fields(await read_json(request))
        client_id = fields.text("client_id", required=True, blank=False)
        client_secret = fields.text("client_secret", required=True, blank=False)
        grant_type = fields.text("grant_type", required=True, blank=False)
        scope = fields.text("scope")
        assertion = fields.text("assertion")
        fields.done()
        assert client_id is not None and client_secret is not None and grant_type is not None
        result = self.backend.create_token(
            client_id=client_id,
            client_secret=client_secret,
            grant_type=grant_type,
            scope=scope or None,
            assertion=assertion,
        )
        return JSONResponse(result)

    # fulfillment --------------------------------------------------------
    async def create_user(self, request: Request) -> Response:
        caller = self._caller(request)
        fields = Fields(await read_json(request))
        values = {
            "user_id": fields.text("user_id", required=True, blank=False),
            "first_name": fields.text("first_name", required=True, blank=False),
            "last_name": fields.text("last_name"),
            "phone_number": fields.text("phone_number"),
            "locale": fields.text("locale"),
        }
        fields.done()
        return JSONResponse(self.backend.create_user(caller, values))

    async def list_delivery_options(self, request: Request) -> Response:
        caller = self._caller(request)
        fields = Fields(await read_json(request))
        _address(fields, "address")
        _items(fields, "items")
        fields.done()
        user_id = request.path_params["user_id"]
        return JSONResponse(self.backend.list_delivery_options(caller, user_id))

    async def preview_delivery_options(self, request: Request) -> Response:
        caller = self._caller(request)
        fields = Fields(await read_json(request))
        fields.text("postal_code", required=True, blank=False)
        fields.done()
        return JSONResponse(self.backend.preview_delivery_options(caller))

    async def reserve_service_option(self, request: Request) -> Response:
        caller = self._caller(request)
        await read_json(request)
        option_id = _path_int(request, "service_option_id")
        user_id = request.path_params["user_id"]
        return JSONResponse(self.backend.reserve_service_option(caller, user_id, option_id))

    async def create_delivery_order(self, request: Request) -> Response:
        caller = self._caller(request)
        fields = Fields(await read_json(request))
        values = {
            "order_id": fields.text("order_id", required=True, blank=False),
            "service_option_hold_id": fields.integer("service_option_hold_id", required=True),
            "initial_tip_cents": fields.integer("initial_tip_cents", required=True, minimum=0),
            "address": _address(fields, "address"),
            "items": _items(fields, "items"),
            "special_instructions": fields.text("special_instructions"),
            "leave_unattended": fields.boolean("leave_unattended"),
            "user": fields.object("user"),
        }
        user = values["user"]
        if isinstance(user, dict):
            sub = Fields(user, prefix="user.")
            for key in ("first_name", "last_name", "phone_number"):
                sub.text(key)
            fields.merge(sub)
        fields.done()
        user_id = request.path_params["user_id"]
        return JSONResponse(self.backend.create_delivery_order(caller, user_id, values))

    async def get_delivery_order(self, request: Request) -> Response:
        caller = self._caller(request)
        params = request.path_params
        return JSONResponse(
            self.backend.get_delivery_order(caller, params["user_id"], params["order_id"])
        )

    # sandbox ------------------------------------------------------------
    async def create_shopper(self, request: Request) -> Response:
        caller = self._caller(request)
        fields = Fields(await read_json(request))
        email = fields.text("email")
        phone = fields.text("phone")
        password = fields.text("password")
        fields.done()
        return JSONResponse(self.backend.create_shopper(caller, email, phone, password))

    async def create_batch(self, request: Request) -> Response:
        caller = self._caller(request)
        fields = Fields(await read_json(request))
        batch_type = fields.choice("batch_type", workflow.BATCH_TYPES) or "delivery"
        shopper_id = fields.integer("shopper_id", required=True)
        orders = fields.array("orders", required=True)
        state = fields.text("workflow_state")
        entries: list[dict[str, Any]] = []
        for index, entry in enumerate(orders or [], start=1):
            where = f"orders[{index}]"
            if not isinstance(entry, dict):
                fields.fail(where, "is invalid")
                continue
            sub = Fields(entry, prefix=f"{where}.")
            order_id = sub.text("id", required=True, blank=False)
            user_id = sub.text("user_id")
            fields.merge(sub)
            if order_id is not None:
                entries.append({"id": order_id, "user_id": user_id or None})
        fields.done()
        assert shopper_id is not None
        return JSONResponse(
            self.backend.create_batch(caller, batch_type, shopper_id, entries, state)
        )

    async def advance_batch(self, request: Request) -> Response:
        caller = self._caller(request)
        fields = Fields(await read_json(request))
        state = fields.text("workflow_state")
        fields.done()
        batch_id = _path_int(request, "batch_id")
        return JSONResponse(self.backend.advance_batch(caller, batch_id, state))

    async def add_item(self, request: Request) -> Response:
        caller = self._caller(request)
        fields = Fields(await read_json(request))
        item = {
            "line_num": fields.text("line_num"),
            "item": _item_code(fields, "item"),
            "count": fields.number("count", positive=True),
            "weight": fields.number("weight", positive=True),
            "status": fields.choice("status", ITEM_STATUSES),
        }
        fields.done()
        shopper_id = _path_int(request, "shopper_id")
        order_id = request.path_params["order_id"]
        return JSONResponse(
            self.backend.add_item(caller, shopper_id, order_id,
                                  {k: v for k, v in item.items() if v is not None})
        )  # fmt: skip

    async def update_item(self, request: Request) -> Response:
        caller = self._caller(request)
        fields = Fields(await read_json(request))
        status = fields.choice("status", ITEM_STATUSES, required=True)
        changes = {
            "status": status,
            "delivered_count": fields.number("delivered_count"),
            "delivered_weight": fields.number("delivered_weight"),
            "replacement_item": _item_code(fields, "replacement_item", required=False),
        }
        if status == "replaced" and changes["replacement_item"] is None and not fields.errors:
            fields.fail("replacement_item", "can't be blank")
        fields.done()
        shopper_id = _path_int(request, "shopper_id")
        params = request.path_params
        return JSONResponse(
            self.backend.update_item(caller, shopper_id, params["order_id"], params["line_num"],
                                     changes)
        )  # fmt: skip

    async def create_callback(self, request: Request) -> Response:
        caller = self._caller(request)
        fields = Fields(await read_json(request))
        event = fields.choice("event_name", CALLBACK_EVENTS, required=True)
        fields.done()
        assert event is not None
        order_id = request.path_params["order_id"]
        return JSONResponse(self.backend.create_callback(caller, order_id, event))

    # post-checkout ------------------------------------------------------
    async def get_order_status(self, request: Request) -> Response:
        caller = self._caller(request)
        return JSONResponse(self.backend.get_order_status(caller, request.path_params["order_id"]))

    async def list_messages(self, request: Request) -> Response:
        caller = self._caller(request)
        order = request.path_params["order_id"]
        return _conversation_response(self.backend.list_messages(caller, order, _internal(request)))

    async def create_message(self, request: Request) -> Response:
        caller = self._caller(request)
        data = await read_json(request)
        order = request.path_params["order_id"]
        # 404 before 400: an unknown order is reported whatever the body says.
        self.backend.check_chat_order(caller, order, _internal(request))
        body, image_url = _message_fields(data)
        return JSONResponse(
            self.backend.create_message(caller, order, _internal(request), body, image_url)
        )

    async def mark_messages_read(self, request: Request) -> Response:
        caller = self._caller(request)
        await read_json(request)
        order = request.path_params["order_id"]
        return JSONResponse(self.backend.mark_messages_read(caller, order, _internal(request)))


ITEM_STATUSES = ("found", "replaced", "to_refund", "not_found")
CALLBACK_EVENTS = ("canceled", "rescheduled", "late_delivery")

_REPLACEMENT_SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="240" height="160" \
viewBox="0 0 240 160"><rect width="240" height="160" rx="12" fill="#fff8dc"/>\
<path d="M50 110 C90 150 170 140 195 70 C200 60 190 55 185 65 C160 120 100 125 60 95 Z" \
fill="#f5d43b" stroke="#8a6d00" stroke-width="3"/><text x="120" y="30" font-family="sans-serif" \
font-size="16" text-anchor="middle" fill="#333">Suggested replacement</text></svg>"""


class EmulatorResponses:
    """The control plane under /_emulator/ (never part of the Connect API)."""

    def __init__(self, backend: ConnectBackend, info: dict[str, Any]) -> None:
        self.backend = backend
        self.info = info

    async def health(self, request: Request) -> Response:
        backend = self.backend
        return JSONResponse(
            {
                "status": "ok",
                **self.info,
                "seed": backend.ids.seed,
                "now": backend.clock_view()["now"],
                "clock_frozen": backend.clock.frozen,
                "shopper_enabled": backend.shopper_enabled,
            }
        )

    async def reset(self, request: Request) -> Response:
        Fields(await read_json(request), strict=True).done()
        self.backend.reset()
        return JSONResponse({"status": "ok"})

    async def seed(self, request: Request) -> Response:
        fields = Fields(await read_json(request), strict=True)
        seed = fields.integer("seed", required=True, minimum=0)
        fields.done()
        assert seed is not None
        self.backend.set_seed(seed)
        return JSONResponse({"seed": seed})

    async def get_clock(self, request: Request) -> Response:
        return JSONResponse(self.backend.clock_view())

    async def set_clock(self, request: Request) -> Response:
        fields = Fields(await read_json(request), strict=True)
        now = fields.text("now")
        advance = fields.number("advance_seconds")
        real = fields.boolean("real")
        fields.done()
        given = [name for name, v in (("now", now), ("advance_seconds", advance), ("real", real))
                 if v is not None]  # fmt: skip
        if len(given) != 1:
            raise InvalidParameter("give exactly one of now, advance_seconds, real", key="now")
        clock = self.backend.clock
        if now is not None:
            try:
                clock.set(parse_time(now))
            except ValueError as exc:
                message = str(exc) if "backwards" in str(exc) else "is not an ISO 8601 time"
                raise InvalidParameter(message, key="now") from None
        elif advance is not None:
            clock.advance(advance)
        elif real:
            clock.use_real_time()
        else:
            raise InvalidParameter("only true is accepted", key="real")
        self.backend.save_clock()
        return JSONResponse(self.backend.clock_view())

    async def get_order(self, request: Request) -> Response:
        return JSONResponse(self.backend.order_debug_view(request.path_params["order_id"]))

    async def shopper_message(self, request: Request) -> Response:
        data = await read_json(request)
        fields = Fields(data, strict=True)
        fields.text("body")
        fields.text("image_url")
        fields.done()
        body, image_url = _message_fields(data)
        order_id = request.path_params["order_id"]
        return JSONResponse(self.backend.post_shopper_message(order_id, body, image_url))

    async def shopper_information_removal(self, request: Request) -> Response:
        fields = Fields(await read_json(request), strict=True)
        enabled = fields.boolean("enabled", required=True)
        fields.done()
        assert enabled is not None
        order_id = request.path_params["order_id"]
        return JSONResponse(self.backend.set_shopper_information_removal(order_id, enabled))

    async def list_faults(self, request: Request) -> Response:
        return JSONResponse({"faults": [r.to_dict() for r in self.backend.faults.list()]})

    async def add_fault(self, request: Request) -> Response:
        fields = Fields(await read_json(request), strict=True)
        method = fields.text("method", blank=False) or "*"
        path = fields.text("path", blank=False) or "*"
        status = fields.integer("status")
        retry_after = fields.integer("retry_after", minimum=0)
        latency_ms = fields.integer("latency_ms", minimum=0) or 0
        drop = fields.boolean("drop") or False
        probability = fields.number("probability")
        times = fields.integer("times", minimum=1)
        if status is not None and not 400 <= status <= 599:
            fields.fail("status", "must be an error status from 400 to 599")
        if probability is not None and probability > 1:
            fields.fail("probability", "must be between 0 and 1")
        if latency_ms > 60_000:
            fields.fail("latency_ms", "must be at most 60000")
        if status is None and not drop and not latency_ms and not fields.errors:
            fields.fail("status", "give a status, drop or latency_ms")
        if status is not None and drop:
            fields.fail("drop", "a rule either drops the connection or answers a status")
        fields.done()
        rule = self.backend.faults.add(
            method=method.upper(), path=path, status=status, retry_after=retry_after,
            latency_ms=latency_ms, drop=drop,
            probability=1.0 if probability is None else probability, times=times,
        )  # fmt: skip
        return JSONResponse(rule.to_dict())

    async def clear_faults(self, request: Request) -> Response:
        self.backend.faults.clear()
        return JSONResponse({"faults": []})

    async def delete_fault(self, request: Request) -> Response:
        if not self.backend.faults.remove(_path_int(request, "fault_id")):
            raise ResourceNotFound()
        return JSONResponse({"faults": [r.to_dict() for r in self.backend.faults.list()]})

    async def get_shopper(self, request: Request) -> Response:
        return JSONResponse(self._shopper_view())

    def _shopper_view(self) -> dict[str, Any]:
        backend = self.backend
        return {
            "enabled": backend.shopper_enabled,
            "reply_delay": backend.reply_delay,
            "script": script_to_dict(backend.script),
        }

    async def put_shopper(self, request: Request) -> Response:
        data = await read_json(request)
        fields = Fields(data, strict=True)
        enabled = fields.boolean("enabled")
        script_data = fields.object("script")
        reply_delay = fields.number("reply_delay")
        fields.done()
        script = None
        if script_data is not None:
            try:
                script = parse_script(script_data, base=self.backend.script)
            except ScriptError as exc:
                raise InvalidParameter(str(exc), key="script") from None
        self.backend.configure_shopper(
            enabled=enabled, script=script, reply_delay=reply_delay,
            reply_delay_set="reply_delay" in data,
        )  # fmt: skip
        return JSONResponse(self._shopper_view())

    async def image(self, request: Request) -> Response:
        if request.path_params["name"] != "replacement.svg":
            raise ResourceNotFound()
        return Response(_REPLACEMENT_SVG, media_type="image/svg+xml")
