"""Same seed and clock, same requests: the same ids, timestamps and messages."""

from __future__ import annotations

from typing import Any

import httpx
from devserver_helpers import Api
from shopper_chat.devserver import serve


def _transcript(base_url: str) -> list[Any]:
    with httpx.Client(base_url=base_url) as http:
        api = Api(http)
        shop = api.shopping("sierra", "order-7")
        api.send(shop.token, shop.order_id, "Hi, this is Sierra.")
        api.send(shop.token, shop.order_id, "Can you substitute the milk?")
        api.http.put(f"/v2/post_checkout/chat/{shop.order_id}/messages",
                     headers={"Authorization": f"Bearer {shop.token}"})  # fmt: skip
        conversation = api.messages(shop.token, shop.order_id)
        return [shop.shopper_id, shop.batch_id, conversation]


def test_two_servers_with_the_same_seed_and_clock_agree() -> None:
    with serve(seed=11, clock="2026-01-15T17:00:00Z") as one:
        first = _transcript(one)
    with serve(seed=11, clock="2026-01-15T17:00:00Z") as two:
        second = _transcript(two)
    assert first == second
    assert len(first[2]["chat_messages"]) == 6  # greeting, replacement, 2 x (message + reply)
    with serve(seed=12, clock="2026-01-15T17:00:00Z") as three:
        assert _transcript(three) != first
