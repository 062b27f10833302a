"""`ChatPoller`: the tutorial's polling strategy for the chat window, as events.

Each poll reads the order's `workflow_state` (when `watch_state`) and then the whole conversation,
and turns the difference from the previous poll into events:

- `StateChanged(old, new)`, kind "state": the order's workflow state changed (`old` is None on
  the first poll);
- `NewMessage(message)`, kind "message": a message id not seen before (each id once, oldest first);
- `ReadChanged(message)`, kind "read": a seen message's `read` / `read_at` changed;
- `MetadataChanged(metadata)`, kind "metadata", only with `watch_metadata=True`: the
  conversation's `metadata` (customer, shoppers, `is_expired`) differs from the last poll's (the
  first poll always reports it), before that poll's messages;
- `PollFailed(error, retry_in)`, kind "error": the poll failed; the next one is in `retry_in` s;
- `Stopped(reason, detail)`, kind "stopped", always the last: reason "state", "timeout",
  "stopped", "expired" or "error".

The state is read before the messages, so every message written before the order reached a stop
state is delivered before `Stopped(reason="state")`. While the server errs (429, 5xx, timeouts,
dropped connections) the poller backs off with the library's one formula (`backoff_delay`, without
jitter): `interval * 2**failures` up to `max_backoff`, or the server's `Retry-After` when it sends
one. Errors that polling cannot outlive (unknown order, chat not allowed, bad credentials) end it
with `Stopped(reason="error")` and `poller.error`.

`sleep` and `clock` are injectable; the default sleep wakes up at once on `stop()`. The poller
never prints; its own requests are not retried by the client (it has its own backoff).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Union

from shopper_chat.client._http import backoff_delay
from shopper_chat.client._parse import MessageCache
from shopper_chat.client._validate import check_id
from shopper_chat.client.errors import (
    APIConnectionError,
    APIError,
    ConnectError,
    InvalidRequestError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    WaitTimeout,
)
from shopper_chat.contract import ORDER_WORKFLOW_STATES, ChatMessage, ChatMetadata, SenderRole

if TYPE_CHECKING:
    from shopper_chat.client._client import Client

__all__ = [
    "ChatPoller",
    "MetadataChanged",
    "NewMessage",
    "PollEvent",
    "PollFailed",
    "PollerState",
    "ReadChanged",
    "StateChanged",
    "StopReason",
    "Stopped",
    "wait_for_messages",
]

PollerState = Literal["live", "backing_off", "stopped"]
StopReason = Literal["state", "timeout", "stopped", "expired", "error"]


@dataclass(frozen=True)
class NewMessage:
    """A message not seen before."""

    message: ChatMessage
    kind: Literal["message"] = "message"


@dataclass(frozen=True)
class ReadChanged:
    """A message seen before whose `read` flag or `read_at` changed (`message` is the new copy)."""

    message: ChatMessage
    kind: Literal["read"] = "read"


@dataclass(frozen=True)
class MetadataChanged:
    """The conversation's metadata (customer, shoppers, `is_expired`) changed, or was read for
    the first time (only with `watch_metadata=True`)."""

    metadata: ChatMetadata
    kind: Literal["metadata"] = "metadata"


@dataclass(frozen=True)
class StateChanged:
    """The order's `workflow_state` changed (`old` is None on the first poll)."""

    old: str | None
    new: str
    kind: Literal["state"] = "state"


@dataclass(frozen=True)
class PollFailed:
    """A poll failed; the poller backs off for `retry_in` seconds."""

    error: ConnectError
    retry_in: float
    kind: Literal["error"] = "error"


@dataclass(frozen=True)
class Stopped:
    """Polling ended (always the last event); `detail` says why in a sentence."""

    reason: StopReason
    detail: str = ""
    kind: Literal["stopped"] = "stopped"


PollEvent = Union[  # noqa: UP007
    NewMessage, ReadChanged, MetadataChanged, StateChanged, PollFailed, Stopped
]


def _transient(error: ConnectError) -> bool:
    """Errors polling outlives by backing off."""
    return isinstance(error, (APIConnectionError, RateLimitError, RequestTimeoutError,
                              ServerError))


class ChatPoller:
    """Polls an order's chat; iterate for events, or call `poll_once()` from your own loop.

    Args:
        client: a `Client` whose user is the order's customer.
        order_id: the retailer's order id.
        interval: seconds between polls while all is well.
        stop_states: order workflow states that end polling (the tutorial's: `checkout`).
        timeout: seconds after the first poll at which polling ends (None: no limit).
        sleep: waits between polls when iterating (default: a wait that `stop()` interrupts).
        clock: a monotonic clock in seconds (for the timeout).
        max_backoff: the longest pause while the server errs.
        watch_state: also read the order's workflow state (needed for `stop_states`).
        watch_metadata: also report the conversation's metadata (`MetadataChanged`).
    """

    def __init__(
        self,
        client: Client,
        order_id: str,
        interval: float = 2.0,
        stop_states: Sequence[str] = ("checkout",),
        timeout: float | None = None,
        sleep: Callable[[float], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_backoff: float = 30.0,
        watch_state: bool = True,
        watch_metadata: bool = False,
    ) -> None:
        self.order_id = check_id("order_id", order_id)
        if isinstance(stop_states, str):
            raise InvalidRequestError("stop_states must be a list of states, not one string",
                                      param="stop_states")
        unknown = [s for s in stop_states if s not in ORDER_WORKFLOW_STATES]
        if unknown:
            raise InvalidRequestError(
                f"unknown workflow state(s) {unknown}; known: {', '.join(ORDER_WORKFLOW_STATES)}",
                param="stop_states",
            )
        if interval <= 0:
            raise InvalidRequestError("interval must be positive", param="interval")
        if timeout is not None and timeout <= 0:
            raise InvalidRequestError("timeout must be positive (or None)", param="timeout")
        if max_backoff <= 0:
            raise InvalidRequestError("max_backoff must be positive", param="max_backoff")
        self._client = client
        self.interval = float(interval)
        self.stop_states = tuple(stop_states)
        self.timeout = timeout
        self.max_backoff = float(max_backoff)
        self.watch_state = watch_state
        self.watch_metadata = watch_metadata
        self.metadata: ChatMetadata | None = None
        """The conversation's metadata at the last poll (None before the first)."""
        self._sleep = sleep
        self._clock = clock
        self._stop_event = threading.Event()
        self._lock = threading.Lock()
        self._started_at: float | None = None
        self._failures = 0
        self._retry_in: float | None = None
        self._by_id: dict[int, ChatMessage] = {}
        self._known = MessageCache()  # each message parsed once (again if its read state moves)
        self._order: list[int] = []
        self._state: PollerState = "live"
        self.workflow_state: str | None = None
        """The order's workflow state at the last poll (None before the first)."""
        self.error: ConnectError | None = None
        """The error that ended polling (with `Stopped(reason="error")`), else None."""
        self.stop_reason: StopReason | None = None

    # -- what has been seen ----------------------------------------------------------------------
    @property
    def messages(self) -> list[ChatMessage]:
        """Every message seen so far (latest copy), in the order first seen."""
        with self._lock:
            return [self._by_id[i] for i in self._order]

    @property
    def state(self) -> PollerState:
        """"live", "backing_off" (the last poll failed) or "stopped"."""
        return self._state

    def stop(self) -> None:
        """End polling (thread-safe): the next poll, or the current wait, ends with
        `Stopped(reason="stopped")`."""
        self._stop_event.set()

    # -- polling ---------------------------------------------------------------------------------
    def poll_once(self) -> list[PollEvent]:
        """One poll, no sleeping: the events it found (empty once stopped)."""
        if self._state == "stopped":
            return []
        now = self._clock()
        if self._started_at is None:
            self._started_at = now
        if self._stop_event.is_set():
            return [self._finish("stopped", "polling was stopped")]
        if self.timeout is not None and now - self._started_at >= self.timeout:
            return [self._finish("timeout", f"no stop condition within {self.timeout:g} s")]

        try:
            status = (self._client.orders.get(self.order_id, max_retries=0)
                      if self.watch_state else None)
            conversation = self._client.chat._fetch(self.order_id, max_retries=0,
                                                    known=self._known)
        except ConnectError as exc:
            if not _transient(exc):
                self.error = exc
                return [self._finish("error", str(exc))]
            self._failures += 1
            hint = getattr(exc, "retry_after", None)
            retry_in = min(self.max_backoff, float(hint) if hint is not None else
                           backoff_delay(self._failures, base=self.interval, cap=self.max_backoff))
            self._retry_in = retry_in
            self._state = "backing_off"
            return [PollFailed(exc, retry_in)]

        self._failures = 0
        self._retry_in = None
        self._state = "live"
        events: list[PollEvent] = []
        if status is not None and status.workflow_state != self.workflow_state:
            events.append(StateChanged(self.workflow_state, status.workflow_state))
            self.workflow_state = status.workflow_state
        if conversation.metadata != self.metadata:
            self.metadata = conversation.metadata
            if self.watch_metadata:
                events.append(MetadataChanged(conversation.metadata))
        with self._lock:
            for message in conversation.chat_messages:
                seen = self._by_id.get(message.id)
                if seen is message:  # unchanged since the last poll (the cache's own object)
                    continue
                if seen is None:
                    self._by_id[message.id] = message
                    self._order.append(message.id)
                    events.append(NewMessage(message))
                elif (seen.read, seen.read_at) != (message.read, message.read_at):
                    self._by_id[message.id] = message
                    events.append(ReadChanged(message))
        if conversation.is_expired:
            events.append(self._finish("expired", "the chat has expired"))
        elif self.workflow_state is not None and self.workflow_state in self.stop_states:
            events.append(self._finish("state", self.workflow_state))
        return events

    def __iter__(self) -> Iterator[PollEvent]:
        """Poll until stopped, yielding events; the last one is always `Stopped`."""
        while True:
            events = self.poll_once()
            yield from events
            if self._state == "stopped":
                return
            if self._stop_event.is_set():
                yield self._finish("stopped", "polling was stopped")
                return
            delay = self._retry_in if self._retry_in is not None else self.interval
            if self.timeout is not None and self._started_at is not None:
                left = self._started_at + self.timeout - self._clock()
                if left <= 0:
                    yield self._finish("timeout", f"no stop condition within {self.timeout:g} s")
                    return
                delay = min(delay, left)
            if self._sleep is not None:
                self._sleep(delay)
            else:
                self._stop_event.wait(delay)

    def _finish(self, reason: StopReason, detail: str) -> Stopped:
        self._state = "stopped"
        self.stop_reason = reason
        return Stopped(reason, detail)

    def __repr__(self) -> str:
        return (f"ChatPoller(order_id={self.order_id!r}, state={self._state!r}, "
                f"messages={len(self._order)}, workflow_state={self.workflow_state!r})")


_ROLE_OF: dict[str | None, SenderRole | None] = {
    "driver": "shopper", "user": "customer", "any": None, None: None,
}


def _sent_by(metadata: ChatMetadata | None, message: ChatMessage, sender_type: str | None) -> bool:
    # The one sender rule (the transcripts' and the panel's): where a server leaves
    # `sender_type` empty, the ids in the conversation's metadata tell who wrote.
    role = _ROLE_OF.get(sender_type)
    if role is None:
        return True
    found = (metadata or ChatMetadata()).sender_role(message)
    return found == role


def wait_for_messages(
    client: Client,
    order_id: str,
    *,
    after: int = 0,
    sender_type: str | None = "driver",
    count: int = 1,
    timeout: float = 30.0,
    interval: float = 1.0,
) -> list[ChatMessage]:
    """Poll until `count` messages newer than message `after` from `sender_type` ("driver",
    "user", "any" or None: either) are there; returns every such message, oldest first.

    What `client.chat.wait_for_messages` does, starting after the newest message the client has
    handed its caller. Raises `WaitTimeout` after `timeout` seconds (or when the chat expires),
    and the API's error when polling cannot go on (unknown order, chat not allowed).
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InvalidRequestError("count must be an int >= 1", param="count")
    if timeout <= 0 or interval <= 0:
        raise InvalidRequestError("timeout and interval must be positive", param="timeout")
    settings = client._core.settings
    poller = ChatPoller(client, order_id, interval=interval, stop_states=(), timeout=timeout,
                        sleep=settings.sleep, clock=settings.clock, watch_state=False)
    found: list[ChatMessage] = []
    for event in poller:
        if isinstance(event, NewMessage):
            message = event.message
            if message.id > after and _sent_by(poller.metadata, message, sender_type):
                found.append(message)
                if len(found) >= count:
                    poller.stop()  # the rest of this poll's events still come first
        elif isinstance(event, Stopped):
            if len(found) >= count:
                break
            if event.reason == "error" and isinstance(poller.error, APIError):
                raise poller.error
            raise WaitTimeout(
                f"{count} new message(s) from {sender_type or 'any'} for order {order_id} did "
                f"not arrive ({event.detail or event.reason}); {len(found)} did."
            )
    return found
