"""One seedable source for every generated id."""

from __future__ import annotations

import random
import threading
from typing import Any

__all__ = ["IdSource"]

# Digits per kind, after the tutorial's examples (customer 789012, shopper 23728249,
# batch 656178546).
_RANGES: dict[str, tuple[int, int]] = {
    "user": (100_000, 999_999),
    "order": (100_000, 999_999),
    "shopper": (10_000_000, 99_999_999),
    "batch": (100_000_000, 999_999_999),
    "service_option": (10_000, 99_999),
    "hold": (1_000_000, 9_999_999),
}


class IdSource:
    """Ids from one `random.Random(seed)`; message ids strictly increasing.

    `snapshot()`/`restore()` let a failed operation give back the numbers it drew, so that an
    error changes nothing, not even the ids that come next.
    """

    def __init__(self, seed: int) -> None:
        self._lock = threading.RLock()
        self.seed = seed
        self._random = random.Random(seed)
        self._last_message_id = 0

    def reseed(self, seed: int, *, after_message_id: int = 0) -> None:
        """Start the random sequence again from `seed`.

        Message ids carry on above `after_message_id` (the largest one stored): a conversation
        is listed in id order, so a reused or smaller id would replace a message or slip into
        the middle of a conversation. Other ids come from the restarted sequence; the backend
        skips those already taken.
        """
        with self._lock:
            self.seed = seed
            self._random = random.Random(seed)
            self._last_message_id = after_message_id

    def skip_message_ids(self, through: int) -> None:
        """Never give out a message id up to `through` (e.g. the largest one stored)."""
        with self._lock:
            self._last_message_id = max(self._last_message_id, through)

    def new_id(self, kind: str) -> int:
        """A random id of the kind's width (the caller checks uniqueness)."""
        low, high = _RANGES[kind]
        with self._lock:
            return self._random.randint(low, high)

    def new_message_id(self) -> int:
        """The next message id: larger than every earlier one."""
        with self._lock:
            if self._last_message_id == 0:
                self._last_message_id = self._random.randint(100, 999)
            else:
                self._last_message_id += self._random.randint(1, 9)
            return self._last_message_id

    def snapshot(self) -> dict[str, Any]:
        """The source's whole state, JSON-serializable."""
        with self._lock:
            version, internal, gauss = self._random.getstate()
            return {
                "seed": self.seed,
                "random": [version, list(internal), gauss],
                "last_message_id": self._last_message_id,
            }

    def restore(self, state: dict[str, Any]) -> None:
        """Go back to a `snapshot()`."""
        with self._lock:
            version, internal, gauss = state["random"]
            self.seed = int(state["seed"])
            self._random.setstate((version, tuple(internal), gauss))
            self._last_message_id = int(state["last_message_id"])
