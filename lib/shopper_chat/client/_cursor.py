"""Where each order's conversation stands for one client: the state behind `wait_for_messages`
and the exactly-once send, kept apart from the resources (which hold none)."""

from __future__ import annotations

import threading

__all__ = ["ChatCursors"]


class ChatCursors:
    """Per order, two message ids (thread-safe):

    - `seen`: the newest message any read or send of this client met. A send compares what it
      finds after a lost answer with it (is there a message of mine newer than that?); None when
      the client has not read the conversation yet.
    - `handed`: the newest message handed to the caller (by `chat.messages`, `chat.send` or
      `chat.wait_for_messages`): the next wait returns only messages newer than it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, int] = {}
        self._handed: dict[str, int] = {}

    def seen(self, order: str) -> int | None:
        with self._lock:
            return self._seen.get(order)

    def handed(self, order: str) -> int:
        with self._lock:
            return self._handed.get(order, 0)

    def note(self, order: str, message_id: int, *, handed: bool) -> None:
        """The client met `message_id` (and handed it to the caller, with `handed`)."""
        with self._lock:
            for table in (self._seen, self._handed) if handed else (self._seen,):
                if message_id > table.get(order, -1):
                    table[order] = message_id
