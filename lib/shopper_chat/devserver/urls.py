"""The route table: path, handler, methods. Connect routes first, then the control plane."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .exceptions import MethodNotAllowed
from .responses import ConnectResponses, EmulatorResponses

__all__ = ["routes"]

Handler = Callable[[Request], Awaitable[Response]]


def _methods(path: str, handlers: dict[str, Handler]) -> Route:
    """One route for several methods, so that a 405 names all of them in `Allow`."""
    allowed = sorted(handlers)
    if "GET" in handlers:
        handlers = {**handlers, "HEAD": handlers["GET"]}

    async def dispatch(request: Request) -> Response:
        handler = handlers.get(request.method)
        if handler is None:  # pragma: no cover - the Route refuses other methods first
            raise MethodNotAllowed(headers={"Allow": ", ".join(allowed)})
        return await handler(request)

    return Route(path, dispatch, methods=allowed)


def routes(connect: ConnectResponses, emulator: EmulatorResponses) -> list[Route]:
    """Every route of the development server."""
    c, e = connect, emulator
    users = "/v2/fulfillment/users/{user_id}"
    sandbox = "/v2/fulfillment_sandbox"
    items = sandbox + "/shoppers/{shopper_id}/orders/{order_id}/items"
    chat = "/v2/post_checkout/chat/{order_id}/messages"
    return [
        Route("/v2/oauth/token", c.create_token, methods=["POST"]),
        Route("/v2/fulfillment/users", c.create_user, methods=["POST"]),
        Route(users + "/service_options/cart/delivery", c.list_delivery_options, methods=["POST"]),
        Route(
            "/v2/fulfillment/service_options/delivery", c.preview_delivery_options, methods=["POST"]
        ),  # fmt: skip
        Route(
            users + "/service_options/{service_option_id}/reserve",
            c.reserve_service_option,
            methods=["POST"],
        ),  # fmt: skip
        Route(users + "/orders/delivery", c.create_delivery_order, methods=["POST"]),
        Route(users + "/orders/{order_id}", c.get_delivery_order, methods=["GET"]),
        Route(sandbox + "/shoppers", c.create_shopper, methods=["POST"]),
        Route(sandbox + "/batches", c.create_batch, methods=["POST"]),
        Route(sandbox + "/batches/{batch_id}/advance", c.advance_batch, methods=["POST"]),
        Route(items, c.add_item, methods=["POST"]),
        Route(items + "/{line_num}", c.update_item, methods=["PUT"]),
        Route(sandbox + "/orders/{order_id}/callbacks", c.create_callback, methods=["POST"]),
        Route("/v2/post_checkout/orders/{order_id}", c.get_order_status, methods=["GET"]),
        _methods(
            chat, {"GET": c.list_messages, "POST": c.create_message, "PUT": c.mark_messages_read}
        ),  # fmt: skip
        # The control plane.
        Route("/_emulator/health", e.health, methods=["GET"]),
        Route("/_emulator/reset", e.reset, methods=["POST"]),
        Route("/_emulator/seed", e.seed, methods=["POST"]),
        _methods("/_emulator/clock", {"GET": e.get_clock, "POST": e.set_clock}),
        Route("/_emulator/orders/{order_id}", e.get_order, methods=["GET"]),
        Route(
            "/_emulator/orders/{order_id}/shopper_messages", e.shopper_message, methods=["POST"]
        ),  # fmt: skip
        Route(
            "/_emulator/orders/{order_id}/shopper_information_removal",
            e.shopper_information_removal,
            methods=["POST"],
        ),  # fmt: skip
        _methods(
            "/_emulator/faults",
            {"GET": e.list_faults, "POST": e.add_fault, "DELETE": e.clear_faults},
        ),  # fmt: skip
        Route("/_emulator/faults/{fault_id}", e.delete_fault, methods=["DELETE"]),
        _methods("/_emulator/shopper", {"GET": e.get_shopper, "PUT": e.put_shopper}),
        Route("/_emulator/images/{name}", e.image, methods=["GET"]),
    ]
