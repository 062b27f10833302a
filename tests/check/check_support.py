"""A server written for the check's tests: the tutorial's routes, answered the way a real server
plausibly differs from the contract.

Every answer is the development server's shape, with these deviations (`DEVIATIONS`, each one
can be left out):

- `extra`: order status has a field the contract does not list (`store_name`);
- `empty_types`: the conversation's messages have `sender_type` and `recipient_type` "" (as the
  tutorial's example), with ids that the metadata tells apart;
- `renamed`: the send answer calls its `id` `message_id`;
- `wrong_type`: the mark-read answer gives `messages_read_count` as a string;
- `envelope`: the unknown order's 404 is `{"errors": [...]}`, not the contract's envelope.

Others a test may ask for: `tutorial_example` (the conversation is the tutorial's own example:
empty types and ids, a `read_at` on an unread message), `nulls` (null text and image),
`broken_shopper` (creating a shopper answers 500).

It checks the credentials and the tokens like a real server, and the tokens and secret are
known, so that a test can scan every output for them.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CLIENT_ID = "check-test-client"
CLIENT_SECRET = "check-test-secret-5b7e2a"
RETAILER_TOKEN = "retailer-token-8f2c1e9d4b"
USER_TOKEN = "user-token-7d41a9c3e6"
SECRETS = (CLIENT_SECRET, RETAILER_TOKEN, USER_TOKEN)

DEVIATIONS = frozenset({"extra", "empty_types", "renamed", "wrong_type", "envelope"})

CUSTOMER, SHOPPER, ORDER_INTERNAL = 302408, 40524782, 849514
WINDOW = {"start_at": "2026-01-15T19:00:00Z", "end_at": "2026-01-15T21:00:00Z"}
SLOT = {"id": 33774, "service_option_reference": "scheduled-33774", "date": "2026-01-15",
        "window": {**WINDOW, "type": "scheduled", "asap": False},
        "availability": {"available": True, "reasons": [], "item_codes": []}}


def _message(deviations: frozenset[str]) -> dict[str, Any]:
    if "tutorial_example" in deviations:
        return {"id": 123, "order_id": 123456, "created_at": "2021-07-09T17:24:12Z",
                "recipient_id": "", "recipient_type": "", "sender_id": "", "sender_type": "",
                "read": False, "read_at": "2021-07-09T17:24:12Z",
                "body": "Hi, this is Zelma, your shopper. I'm just getting started on your "
                        "shopping list.",
                "image": ""}
    empty = "empty_types" in deviations
    nulls = "nulls" in deviations
    return {"id": 913, "order_id": ORDER_INTERNAL, "created_at": "2026-01-15T17:00:00Z",
            "recipient_id": str(CUSTOMER), "recipient_type": "" if empty else "user",
            "sender_id": str(SHOPPER), "sender_type": "" if empty else "driver",
            "read": False, "read_at": None,
            "body": None if nulls else "Hi, this is Zelma, your shopper.",
            "image": None if nulls else ""}


class DeviatingServer:
    """The server's answers, by route (`answer`), and the HTTP server around them (`serve`)."""

    def __init__(self, deviations: frozenset[str] = DEVIATIONS) -> None:
        self.deviations = deviations
        self.requests: list[tuple[str, str]] = []
        """Every request's method and path, in order."""

    def answer(self, method: str, path: str, body: Any, token: str | None
               ) -> tuple[int, Any]:  # fmt: skip
        self.requests.append((method, path))
        d = self.deviations
        if method == "POST" and path == "/v2/oauth/token":
            if body.get("client_id") != CLIENT_ID or body.get("client_secret") != CLIENT_SECRET:
                return 401, {"error": {"message": "Invalid client credentials", "code": None},
                             "meta": {}}
            user = body.get("grant_type") == "fulfillment_user_assertion"
            return 200, {"access_token": USER_TOKEN if user else RETAILER_TOKEN,
                         "token_type": "Bearer", "expires_in": 86400,
                         "scope": body.get("scope", ""), "created_at": 1768496400}
        if token not in (RETAILER_TOKEN, USER_TOKEN):
            return 401, {"error": {"message": "Invalid access token", "code": None}, "meta": {}}
        order = re.fullmatch(r"/v2/post_checkout/(?:chat|orders)/([^/]+)(?:/messages)?", path)
        if order and order.group(1) == "shopper-chat-check-no-such-order":
            if "envelope" in d:
                return 404, {"errors": [{"message": "Not Found", "code": 4000}]}
            return 404, {"error": {"message": "Resource not found", "code": 4000}, "meta": {}}
        if "broken_shopper" in d and path == "/v2/fulfillment_sandbox/shoppers":
            return 500, {"error": {"message": "An unexpected error occurred", "code": 5000},
                         "meta": {}}
        routes: list[tuple[str, str, Any]] = [
            ("POST", r"/v2/fulfillment/users", {"user_id": (body or {}).get("user_id"),
                                                "first_name": "Sierra", "last_name": None,
                                                "phone_number": None, "locale": None}),
            ("POST", r"/v2/fulfillment/users/[^/]+/service_options/cart/delivery",
             {"service_options": [SLOT]}),
            ("POST", r"/v2/fulfillment/users/[^/]+/service_options/\d+/reserve",
             {"service_option_hold": {"id": 9304040, "expires_at": "2026-01-15T17:10:00Z",
                                      "service_option": SLOT}}),
            ("POST", r"/v2/fulfillment/users/[^/]+/orders/delivery",
             {"id": (body or {}).get("order_id"), "status": "brand_new",
              "created_at": "2026-01-15T17:00:00Z", "fulfillment_type": "delivery",
              "locale": None, "window": WINDOW, "address": (body or {}).get("address"),
              "items": (body or {}).get("items"), "initial_tip_cents": 0,
              "special_instructions": None, "leave_unattended": None}),
            ("POST", r"/v2/fulfillment_sandbox/shoppers", {"id": SHOPPER}),
            ("POST", r"/v2/fulfillment_sandbox/batches",
             {"id": 925439495, "workflow_state": "acknowledged"}),
            ("POST", r"/v2/fulfillment_sandbox/batches/\d+/advance",
             {"id": 925439495, "workflow_state": "picking"}),
            ("POST", r"/v2/fulfillment_sandbox/orders/[^/]+/callbacks", {"success": True}),
            ("GET", r"/v2/post_checkout/orders/[^/]+",
             {"id": order.group(1) if order else "", "workflow_state": "picking",
              "fulfillment_type": "delivery", "created_at": "2026-01-15T17:00:00Z",
              "window": WINDOW, **({"store_name": "Example Market"} if "extra" in d else {})}),
            ("GET", r"/v2/post_checkout/chat/[^/]+/messages",
             {"chat_messages": [_message(d)],
              "metadata": {"customer": {"id": CUSTOMER, "display_name": "Sierra"},
                           "shoppers": [{"id": SHOPPER, "display_name": "Zelma",
                                         "avatar_url": "http://example.com"}],
                           "is_expired": False}}),
            ("PUT", r"/v2/post_checkout/chat/[^/]+/messages",
             {"messages_read_count": "1" if "wrong_type" in d else 1}),
        ]
        if method == "POST" and re.fullmatch(r"/v2/post_checkout/chat/[^/]+/messages", path):
            if len((body or {}).get("body") or "") > 1000:
                return 400, {"error": {"message": "is too long (maximum is 1000 characters)",
                                       "code": 1001}, "meta": {"key": "body"}}
            key = "message_id" if "renamed" in d else "id"
            return 200, {key: 920, "type": "CHAT", "created_at": "2026-01-15T17:00:30Z",
                         "timezone": "America/Los_Angeles"}
        for want_method, pattern, data in routes:
            if method == want_method and re.fullmatch(pattern, path):
                return 200, data
        return 404, {"error": {"message": "Resource not found", "code": 4000}, "meta": {}}

    @contextmanager
    def serve(self) -> Iterator[str]:
        """The server on a free loopback port; yields its base URL."""
        answer = self.answer

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                auth = self.headers.get("Authorization") or ""
                token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
                status, data = answer(self.command, self.path, body, token)
                content = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PUT = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the test reads the check's report, not the server's log

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()
