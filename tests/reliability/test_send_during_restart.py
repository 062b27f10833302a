"""A send whose answer is lost while the server restarts: the message is stored, and the client
must say so (within its retry budget) rather than report a failure the caller would answer by
sending again (a double).

The transport seam plays the network: the first POST reaches the real server (which stores the
message) but its answer is lost; for the next moments the server cannot be reached (it is
restarting); then it answers again.
"""

from __future__ import annotations

import httpx
import pytest
from shopper_chat import Client, tutorial
from shopper_chat.devserver import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET


class _Restarting(httpx.HTTPTransport):
    """Loses the answer of the first chat POST, then refuses `down_for` requests."""

    def __init__(self, down_for: int) -> None:
        super().__init__()
        self.down_for = down_for
        self.armed = False
        self.lost = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.armed and self.lost and self.down_for > 0:
            self.down_for -= 1
            raise httpx.ConnectError("connection refused (the server is restarting)",
                                     request=request)
        response = super().handle_request(request)
        if self.armed and not self.lost and request.method == "POST" and "/chat/" in str(
            request.url
        ):
            response.read()
            self.lost += 1
            raise httpx.ReadError("connection reset by peer", request=request)
        return response


@pytest.mark.parametrize("down_for", [1, 3])
def test_a_send_whose_answer_is_lost_during_a_restart_is_recovered_not_failed(
    devserver: str, down_for: int
) -> None:
    transport = _Restarting(down_for)
    sleeps: list[float] = []
    with Client(devserver, client_id=DEFAULT_CLIENT_ID, client_secret=DEFAULT_CLIENT_SECRET,
                transport=transport, sleep=sleeps.append, max_retries=6,
                max_retry_seconds=60) as client:
        tutorial.create_order(client, user_id="customer-r", order_id="order-r")
        tutorial.start_shopping(client, "order-r", "customer-r")
        client.set_user("customer-r")
        client.chat.messages("order-r")
        transport.armed = True
        sent = client.chat.send("order-r", "Could you pick ripe bananas, please?")
        transport.armed = False
        mine = [m for m in client.chat.messages("order-r").chat_messages if m.from_customer]
    assert transport.lost == 1 and transport.down_for == 0  # the answer was lost; it was down
    assert sleeps  # the client waited before looking
    assert [m.body for m in mine] == ["Could you pick ripe bananas, please?"]  # stored once
    assert sent.id == mine[0].id and sent.recovered
