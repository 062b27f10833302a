"""Handlers: parse the request into the contract's model, call the backend, serialize the answer.

No rules live here. `parse` is the one way a body is validated and `render` the one place an
answer becomes JSON.
"""

from __future__ import annotations

import json
from collections.abc import Container
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from shopper_chat import contract as c

from .control import (
    AddFaultRequest,
    CallbacksRequest,
    ClockRequest,
    EmptyRequest,
    InformationRemovalRequest,
    ScenarioRequest,
    SeedRequest,
    ShopperMessageRequest,
    ShopperRequest,
    Status,
)
from .exceptions import Forbidden, InvalidParameter, ResourceNotFound, invalid
from .models import Caller, ChatPage, ConnectBackend

__all__ = ["ChatAnswers", "ConnectResponses", "Conversations", "EmulatorResponses",
           "MAX_BODY_BYTES", "parse",
           "read_json", "render"]  # fmt: skip

MAX_BODY_BYTES = 64 * 1024
M = TypeVar("M", bound=BaseModel)


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


def parse(model: type[M], data: dict[str, Any]) -> M:
    """The body as `model`, or its problems in the API's words (400: 1001, or 9999 for several)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid(c.problems(exc)) from None


def render(answer: BaseModel) -> Response:
    """An answer as JSON: the one place the server serializes (errors: `error_response`)."""
    return Response(answer.model_dump_json(), media_type="application/json")


class Conversations:
    """Renders chat GETs, writing each message's JSON once per revision.

    Pollers fetch the same messages again and again, and rendering them is most of a GET's cost
    (benchmarks/README.md: 0.1 of a trivial route's throughput without this, above 0.5 with it).
    A message's stored revision changes whenever the message does, so its JSON is kept under
    that revision, for the messages of recent GETs only.
    """

    LIMIT = 20_000

    def __init__(self) -> None:
        self._json: dict[str, str] = {}

    @property
    def known(self) -> Container[str]:
        """The revisions already rendered."""
        return self._json

    def render(self, page: ChatPage) -> Response:
        """The conversation, as `render(Conversation(...))` would write it."""
        for revision, message in page.messages.items():
            self._json[revision] = message.model_dump_json()
        texts = [self._json[r] for r in page.revisions]
        if len(self._json) > self.LIMIT:
            self._json = dict(zip(page.revisions, texts, strict=True))
        # The model's own JSON, the messages' texts put in place of its empty list.
        empty = c.Conversation(chat_messages=(), metadata=page.metadata).model_dump_json()
        head = '{"chat_messages":['
        assert empty.startswith(head + "]")
        body = head + ",".join(texts) + empty[len(head):]
        return Response(body, media_type="application/json")


@dataclass(frozen=True)
class _Answer:
    body: bytes
    version: int  # the store's version it was read at
    script: object  # the shopper's script it names (its display name and avatar)
    until: float  # when it changes with no write: the token or the chat expires (Unix seconds)


class ChatAnswers:
    """Chat GET answers kept, as bytes, until anything changes that could change them.

    Pollers ask for the same conversation again and again with the same token, and most polls
    find nothing new. An answer stays good while the store is not written (its `version`: any
    write, to the order, its messages, its batch, the token, or the clock's record, moves it), the
    scripted shopper's script is the same object (its name and avatar are in the metadata, and it
    lives in memory), and the clock has not reached the moment the token or the chat expires.
    Errors are never kept: an answer is the successful rendering of one (token, order, header).
    """

    LIMIT = 1_000
    MAX_BYTES = 64 * 1024 * 1024  # a 10,000-message answer is about 2.3 MB

    def __init__(self) -> None:
        self._answers: dict[tuple[str, str, bool], _Answer] = {}
        self._bytes = 0

    def get(self, key: tuple[str, str, bool], version: int, script: object,
            now: float) -> bytes | None:  # fmt: skip
        """The kept answer, if it is still the one the server would give."""
        answer = self._answers.get(key)
        if (answer is None or answer.version != version or answer.script is not script
                or now >= answer.until):  # fmt: skip
            return None
        return answer.body

    def put(self, key: tuple[str, str, bool], answer: _Answer) -> None:
        """Keep an answer (all are dropped when there are too many, or too many bytes)."""
        old = self._answers.pop(key, None)
        self._bytes -= 0 if old is None else len(old.body)
        if len(self._answers) >= self.LIMIT or self._bytes + len(answer.body) > self.MAX_BYTES:
            self._answers.clear()  # cheap and rare: each poller's next GET renders again
            self._bytes = 0
        self._answers[key] = answer
        self._bytes += len(answer.body)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _no_credentials_in_url(request: Request) -> None:
    if {"client_id", "client_secret"} & set(request.query_params.keys()):
        raise Forbidden("Client credentials must be sent in the request body, not the URL")


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
        self.conversations = Conversations()
        self.answers = ChatAnswers()

    def _caller(self, request: Request) -> Caller:
        return self.backend.authenticate(_bearer(request))

    # tokens -------------------------------------------------------------
    async def create_token(self, request: Request) -> Response:
        _no_credentials_in_url(request)
        body = parse(c.TokenRequest, await read_json(request))
        issued = self.backend.create_token(
            client_id=body.client_id, client_secret=body.client_secret,
            grant_type=body.grant_type, scope=body.scope, assertion=body.assertion,
        )  # fmt: skip
        return render(c.AccessToken.model_validate(issued))

    # fulfillment --------------------------------------------------------
    async def create_user(self, request: Request) -> Response:
        caller = self._caller(request)
        body = parse(c.CreateUserRequest, await read_json(request))
        return render(self.backend.create_user(caller, body))

    async def list_delivery_options(self, request: Request) -> Response:
        caller = self._caller(request)
        parse(c.DeliveryOptionsRequest, await read_json(request))
        return render(self.backend.list_delivery_options(caller, request.path_params["user_id"]))

    async def preview_delivery_options(self, request: Request) -> Response:
        caller = self._caller(request)
        parse(c.PreviewOptionsRequest, await read_json(request))
        return render(self.backend.preview_delivery_options(caller))

    async def reserve_service_option(self, request: Request) -> Response:
        caller = self._caller(request)
        await read_json(request)
        option_id = _path_int(request, "service_option_id")
        return render(self.backend.reserve_service_option(caller, request.path_params["user_id"],
                                                          option_id))  # fmt: skip

    async def create_delivery_order(self, request: Request) -> Response:
        caller = self._caller(request)
        body = parse(c.CreateOrderRequest, await read_json(request))
        return render(self.backend.create_delivery_order(caller, request.path_params["user_id"],
                                                         body))  # fmt: skip

    async def get_delivery_order(self, request: Request) -> Response:
        caller = self._caller(request)
        params = request.path_params
        return render(self.backend.get_delivery_order(caller, params["user_id"],
                                                      params["order_id"]))  # fmt: skip

    # sandbox ------------------------------------------------------------
    async def create_shopper(self, request: Request) -> Response:
        caller = self._caller(request)
        body = parse(c.CreateShopperRequest, await read_json(request))
        return render(self.backend.create_shopper(caller, body))

    async def create_batch(self, request: Request) -> Response:
        caller = self._caller(request)
        body = parse(c.CreateBatchRequest, await read_json(request))
        return render(self.backend.create_batch(caller, body))

    async def advance_batch(self, request: Request) -> Response:
        caller = self._caller(request)
        body = parse(c.AdvanceBatchRequest, await read_json(request))
        batch_id = _path_int(request, "batch_id")
        return render(self.backend.advance_batch(caller, batch_id, body.workflow_state))

    async def add_item(self, request: Request) -> Response:
        caller = self._caller(request)
        body = parse(c.AddItemRequest, await read_json(request))
        shopper_id = _path_int(request, "shopper_id")
        return render(self.backend.add_item(caller, shopper_id, request.path_params["order_id"],
                                            body))  # fmt: skip

    async def update_item(self, request: Request) -> Response:
        caller = self._caller(request)
        body = parse(c.UpdateItemRequest, await read_json(request))
        shopper_id = _path_int(request, "shopper_id")
        params = request.path_params
        return render(self.backend.update_item(caller, shopper_id, params["order_id"],
                                               params["line_num"], body))  # fmt: skip

    async def create_callback(self, request: Request) -> Response:
        caller = self._caller(request)
        body = parse(c.SandboxCallbackRequest, await read_json(request))
        return render(self.backend.create_callback(caller, request.path_params["order_id"],
                                                   body.event_name))  # fmt: skip

    # post-checkout ------------------------------------------------------
    async def get_order_status(self, request: Request) -> Response:
        caller = self._caller(request)
        return render(self.backend.get_order_status(caller, request.path_params["order_id"]))

    async def list_messages(self, request: Request) -> Response:
        backend = self.backend
        token = _bearer(request)
        order, internal = request.path_params["order_id"], _internal(request)
        # Read before anything else: a write meanwhile makes the answer kept below stale at once.
        version, script, now = backend.store.version, backend.shopper.script, backend.now()
        key = (token or "", order, internal)
        if token:
            body = self.answers.get(key, version, script, now.timestamp())
            if body is not None:
                return Response(body, media_type="application/json")
        caller = backend.authenticate(token)
        page = backend.chat_page(caller, order, internal, known=self.conversations.known)
        response = self.conversations.render(page)
        until = caller.expires_at
        if page.changes_at is not None:
            until = min(until, page.changes_at.timestamp())
        self.answers.put(key, _Answer(bytes(response.body), version, script, until))
        return response

    async def create_message(self, request: Request) -> Response:
        caller = self._caller(request)
        data = await read_json(request)
        order, internal = request.path_params["order_id"], _internal(request)
        # 404 before 400: an unknown order is reported whatever the body says.
        self.backend.check_chat_order(caller, order, internal)
        body = parse(c.MessageRequest, data)
        return render(self.backend.create_message(caller, order, internal, body.body or "",
                                                  body.image_url or ""))  # fmt: skip

    async def mark_messages_read(self, request: Request) -> Response:
        caller = self._caller(request)
        await read_json(request)
        order = request.path_params["order_id"]
        return render(self.backend.mark_messages_read(caller, order, _internal(request)))


class EmulatorResponses:
    """The control plane under /_emulator/ (never part of the Connect API)."""

    def __init__(self, backend: ConnectBackend) -> None:
        self.backend = backend

    async def health(self, request: Request) -> Response:
        return render(self.backend.health())

    async def reset(self, request: Request) -> Response:
        parse(EmptyRequest, await read_json(request))
        self.backend.reset()
        return render(Status())

    async def seed(self, request: Request) -> Response:
        body = parse(SeedRequest, await read_json(request))
        return render(self.backend.set_seed(body.seed))

    async def get_clock(self, request: Request) -> Response:
        return render(self.backend.clock_view())

    async def set_clock(self, request: Request) -> Response:
        body = parse(ClockRequest, await read_json(request))
        return render(self.backend.set_clock(body))

    async def get_order(self, request: Request) -> Response:
        return render(self.backend.order_debug_view(request.path_params["order_id"]))

    async def list_scenarios(self, request: Request) -> Response:
        return render(self.backend.list_scenarios())

    async def choose_scenario(self, request: Request) -> Response:
        body = parse(ScenarioRequest, await read_json(request))
        return render(self.backend.choose_scenario(request.path_params["order_id"], body.name))

    async def shopper_message(self, request: Request) -> Response:
        body = parse(ShopperMessageRequest, await read_json(request))
        return render(self.backend.post_shopper_message(
            request.path_params["order_id"], body.body or "", body.image_url or "",
            body.read_customer_messages))

    async def shopper_information_removal(self, request: Request) -> Response:
        body = parse(InformationRemovalRequest, await read_json(request))
        return render(self.backend.set_shopper_information_removal(
            request.path_params["order_id"], body.enabled))

    async def list_faults(self, request: Request) -> Response:
        return render(self.backend.list_faults())

    async def add_fault(self, request: Request) -> Response:
        body = parse(AddFaultRequest, await read_json(request))
        return render(self.backend.add_fault(body))

    async def clear_faults(self, request: Request) -> Response:
        return render(self.backend.clear_faults())

    async def delete_fault(self, request: Request) -> Response:
        return render(self.backend.delete_fault(_path_int(request, "fault_id")))

    async def get_shopper(self, request: Request) -> Response:
        return render(self.backend.shopper_settings())

    async def put_shopper(self, request: Request) -> Response:
        body = parse(ShopperRequest, await read_json(request))
        return render(self.backend.configure_shopper(body))

    async def get_callbacks(self, request: Request) -> Response:
        return render(self.backend.callback_settings())

    async def put_callbacks(self, request: Request) -> Response:
        body = parse(CallbacksRequest, await read_json(request))
        return render(self.backend.configure_callbacks(body))

    async def delete_callbacks(self, request: Request) -> Response:
        return render(self.backend.stop_callbacks())

    async def callback_deliveries(self, request: Request) -> Response:
        return render(self.backend.callback_deliveries())

    async def image(self, request: Request) -> Response:
        picture = self.backend.picture(request.path_params["name"])
        return Response(picture, media_type="image/svg+xml")
