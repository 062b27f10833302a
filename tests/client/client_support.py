"""Helpers shared by the client's tests."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Shopped:
    """An order whose batch is in `picking`, and the client set to its customer."""

    user_id: str
    order_id: str
    shopper_id: int
    batch_id: int



class Sleeps:
    """An injected sleep that records each pause instead of waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
