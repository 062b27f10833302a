"""The route table: every operation's method, path, handler, body and answer models, and the error
statuses it may answer. The server's routes and its OpenAPI document are both made from it.
Connect operations first, then the control plane."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import Lifespan, Receive, Scope, Send

from shopper_chat import contract as c

from . import control as e
from .faults import FaultRule
from .responses import ConnectResponses, EmulatorResponses

__all__ = ["CONNECT", "CONTROL", "INTEGER_PARAMS", "DirectRouter", "Operation", "routes"]

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Operation:
    """One route: `handler` names the method of `ConnectResponses` / `EmulatorResponses`;
    `answer` None means the answer is not JSON (a picture)."""

    method: str
    path: str
    handler: str
    summary: str
    body: type[BaseModel] | None
    answer: type[BaseModel] | None
    errors: tuple[int, ...]
    tag: str = "emulator"
    internal_ids: bool = False  # takes `X-Treat-Ids-As-Internal`


INTEGER_PARAMS = frozenset({"service_option_id", "batch_id", "shopper_id", "fault_id"})
"""Path parameters that are integers (anything else there: 404)."""

_USERS = "/v2/fulfillment/users/{user_id}"
_SANDBOX = "/v2/fulfillment_sandbox"
_ITEMS = _SANDBOX + "/shoppers/{shopper_id}/orders/{order_id}/items"
_CHAT = "/v2/post_checkout/chat/{order_id}/messages"
_ORDER = "/_emulator/orders/{order_id}"
Op = Operation

CONNECT: tuple[Operation, ...] = (
    Op("POST", "/v2/oauth/token", "create_token", "Get an access token",
       c.TokenRequest, c.AccessToken, (400, 401, 403), "auth"),
    Op("POST", "/v2/fulfillment/users", "create_user", "Create a user",
       c.CreateUserRequest, c.User, (400, 401, 403), "fulfillment"),
    Op("POST", _USERS + "/service_options/cart/delivery", "list_delivery_options",
       "List delivery slots for a cart", c.DeliveryOptionsRequest, c.ServiceOptions,
       (400, 401, 403, 404), "fulfillment"),
    Op("POST", "/v2/fulfillment/service_options/delivery", "preview_delivery_options",
       "Preview delivery slots", c.PreviewOptionsRequest, c.ServiceOptions, (400, 401, 403),
       "fulfillment"),
    Op("POST", _USERS + "/service_options/{service_option_id}/reserve", "reserve_service_option",
       "Reserve a slot (10-minute hold)", None, c.ServiceOptionHoldResponse,
       (400, 401, 403, 404), "fulfillment"),
    Op("POST", _USERS + "/orders/delivery", "create_delivery_order", "Create a delivery order",
       c.CreateOrderRequest, c.Order, (400, 401, 403, 404), "fulfillment"),
    Op("GET", _USERS + "/orders/{order_id}", "get_delivery_order", "Get an order",
       None, c.Order, (401, 403, 404), "fulfillment"),
    Op("POST", _SANDBOX + "/shoppers", "create_shopper", "Create a shopper",
       c.CreateShopperRequest, c.Shopper, (400, 401), "sandbox"),
    Op("POST", _SANDBOX + "/batches", "create_batch", "Generate a batch",
       c.CreateBatchRequest, c.Batch, (400, 401), "sandbox"),
    Op("POST", _SANDBOX + "/batches/{batch_id}/advance", "advance_batch", "Advance a batch",
       c.AdvanceBatchRequest, c.Batch, (400, 401, 404), "sandbox"),
    Op("POST", _ITEMS, "add_item", "Shopper adds an item",
       c.AddItemRequest, c.Success, (400, 401, 404), "sandbox"),
    Op("PUT", _ITEMS + "/{line_num}", "update_item", "Shopper updates an item",
       c.UpdateItemRequest, c.Success, (400, 401, 404), "sandbox"),
    Op("POST", _SANDBOX + "/orders/{order_id}/callbacks", "create_callback", "Simulate a callback",
       c.SandboxCallbackRequest, c.Success, (400, 401, 404), "sandbox"),
    Op("GET", "/v2/post_checkout/orders/{order_id}", "get_order_status", "Get the order's status",
       None, c.OrderStatus, (401, 404), "post_checkout"),
    Op("GET", _CHAT, "list_messages", "The whole conversation, oldest first",
       None, c.Conversation, (401, 403, 404), "post_checkout", internal_ids=True),
    Op("POST", _CHAT, "create_message", "Send a message to the shopper",
       c.MessageRequest, c.SentMessage, (400, 401, 403, 404), "post_checkout", internal_ids=True),
    Op("PUT", _CHAT, "mark_messages_read", "Mark the shopper's messages read",
       None, c.MessagesRead, (400, 401, 404), "post_checkout", internal_ids=True),
)  # fmt: skip

CONTROL: tuple[Operation, ...] = (
    Op("GET", "/_emulator/health", "health", "Health: status ok, version, seed, clock, shopper",
       None, e.Health, ()),
    Op("POST", "/_emulator/reset", "reset",
       "Clear all state and faults; back to the start seed and clock", e.EmptyRequest, e.Status,
       (400,)),
    Op("POST", "/_emulator/seed", "seed", "Restart the id sequence", e.SeedRequest, e.Seed, (400,)),
    Op("GET", "/_emulator/clock", "get_clock",
        "The clock: now, frozen, next scripted-shopper action", None, e.ClockView, ()),
    Op("POST", "/_emulator/clock", "set_clock", "Set, advance or unfreeze the clock (one field)",
       e.ClockRequest, e.ClockView, (400,)),
    Op("GET", _ORDER, "get_order",
       "The ids a real server keeps to itself, the order's scenario and state, its items",
       None, e.OrderDebug, (404,)),
    Op("PUT", _ORDER + "/scenario", "choose_scenario",
       "Choose the scenario the scripted shopper follows on the order", e.ScenarioRequest,
       e.OrderScenario, (400, 404)),
    Op("GET", "/_emulator/scenarios", "list_scenarios",
       "The scenarios the scripted shopper can follow, each with what it does", None,
       e.ScenarioList, ()),
    Op("POST", _ORDER + "/shopper_messages", "shopper_message",
       "Post a message as the order's shopper", e.ShopperMessageRequest, c.ChatMessage,
       (400, 403, 404)),
    Op("POST", _ORDER + "/shopper_information_removal", "shopper_information_removal",
       "Switch shopper information removal (GET chat answers 403)",
       e.InformationRemovalRequest, e.InformationRemoval, (400, 404)),
    Op("GET", "/_emulator/faults", "list_faults", "The active fault rules",
       None, e.FaultList, ()),
    Op("POST", "/_emulator/faults", "add_fault", "Add a fault rule",
       e.AddFaultRequest, FaultRule, (400,)),
    Op("DELETE", "/_emulator/faults", "clear_faults", "Remove every fault rule",
       None, e.FaultList, ()),
    Op("DELETE", "/_emulator/faults/{fault_id}", "delete_fault", "Remove one fault rule",
       None, e.FaultList, (404,)),
    Op("GET", "/_emulator/shopper", "get_shopper", "The scripted shopper: enabled, delay, script",
       None, e.ShopperSettings, ()),
    Op("PUT", "/_emulator/shopper", "put_shopper",
       "Switch the scripted shopper, merge keys into its script (validated), set its delay and "
       "the scenario of new orders",
       e.ShopperRequest, e.ShopperSettings, (400,)),
    Op("GET", "/_emulator/callbacks", "get_callbacks",
       "Event callbacks: where they go (the client secret masked; all null when off)",
       None, e.CallbackSettings, ()),
    Op("PUT", "/_emulator/callbacks", "put_callbacks",
       "Send the event callbacks to a retailer's OAuth-protected endpoint",
       e.CallbacksRequest, e.CallbackSettings, (400,)),
    Op("DELETE", "/_emulator/callbacks", "delete_callbacks",
       "Turn the event callbacks off (pending deliveries are dropped)",
       None, e.CallbackSettings, ()),
    Op("GET", "/_emulator/callbacks/deliveries", "callback_deliveries",
       "The delivery log: event, attempt, outcome, status or error, next retry",
       None, e.CallbackDeliveries, ()),
    Op("GET", "/_emulator/images/{name}", "image", "The scripted shopper's pictures (SVG)",
       None, None, (404,)),
)  # fmt: skip


def _route(path: str, handlers: dict[str, Handler]) -> Route:
    """One route for all of a path's methods, so that a 405 names all of them in `Allow`."""
    allowed = sorted(handlers)
    if "GET" in handlers:
         handlers = {**handlers, "HEAD": handlers["GET"]}

    async def dispatch(request: Request) -> Response:
         return await handlers[request.method](request)

    return Route(path, dispatch, methods=allowed)


def _routes(operations: Sequence[Operation], responses: object) -> list[Route]:
    by_path: dict[str, dict[str, Handler]] = {}
    for op in operations:
         by_path.setdefault(op.path, {})[op.method] = getattr(responses, op.handler)
    return [_route(path, handlers) for path, handlers in by_path.items()]


def routes(connect: ConnectResponses, emulator: EmulatorResponses) -> list[Route]:
    """Every route of the development server."""
    return [*_routes(CONNECT, connect), *_routes(CONTROL, emulator)]


def _key(path: str) -> tuple[int, str, str] | None:
    """A path's segment count and first two segments (None for fewer than two)."""
    segments = path[1:].split("/")
    return (len(segments), segments[0], segments[1]) if len(segments) >= 2 else None


class DirectRouter(Router):
    """Starlette's router, finding a request's route by a dict lookup instead of trying every
    route's pattern in turn (most requests here are chat GETs, near the end of the table).

    Routes are grouped by their segment count and first two segments; a request tries only its
    group's routes (and any whose first segments are parameters), in the table's order, and takes
    the first full match, as Starlette's scan would. When none matches fully (a 405, a 404, a
    redirect), Starlette's own scan decides, so the answers are Starlette's in every case.
    """

    def __init__(self, routes: Sequence[BaseRoute], lifespan: Lifespan[Any] | None = None) -> None:
        super().__init__(list(routes), lifespan=lifespan)
        groups: dict[tuple[int, str, str], list[tuple[int, BaseRoute]]] = {}
        anywhere: list[tuple[int, BaseRoute]] = []  # may match any path: tried for every one
        for index, route in enumerate(self.routes):
            path = getattr(route, "path", None)
            key = _key(path) if isinstance(route, Route) and isinstance(path, str) else None
            if key is None or "{" in key[1] + key[2] or ":path}" in str(path):
                anywhere.append((index, route))
            else:
                groups.setdefault(key, []).append((index, route))
        self._anywhere = [route for _, route in anywhere]
        self._groups = {key: [route for _, route in sorted(group + anywhere, key=lambda r: r[0])]
                        for key, group in groups.items()}  # fmt: skip

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hand the request to the first route that matches it fully, else to Starlette."""
        if scope["type"] == "http":
            key = _key(scope["path"][len(scope.get("root_path", "")):])
            for route in self._groups.get(key, self._anywhere) if key else self._anywhere:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.setdefault("router", self)
                    scope["route"] = route
                    scope.update(child_scope)
                    await route.handle(scope, receive, send)
                    return
        await super().app(scope, receive, send)
