"""The chat panel's model: conversation state, sending, the read rule and the poll loop.

Nothing here imports a widget library: the model runs (and is tested) without a browser or a
kernel. The widget in `widget.py` renders what the model tells it and forwards clicks.

Life cycle: building a model makes no network call. `start()` (called when the panel is shown,
or by the headless methods) runs the poll loop in a daemon thread; it ends when the order
reaches one of `stop_states` (`checkout` by default, the tutorial's rule), when `stop()` or
`close()` is called (the widget also stops it when no front end shows it any more), when the chat
expires, when the order does not exist, or when the interpreter exits.

The read rule: the API's PUT marks *every* unread shopper message read, so the model sends it only
when every unread shopper message has been reported seen (`report_seen`, fed by the widget's
front-end hook: a bubble at least half inside the viewport for one second while the page is
visible), and only right after a fresh poll, so that a message that arrived unseen is not swept up.
Headless callers say "the user has seen everything" with `mark_read()`.

Role-play: `role="shopper"` shows the same conversation from the shopper's side, for a person
playing the shopper on an order whose scripted shopper is off: sending goes through the
development server's control plane (`client.emulator.send_as_shopper`), the customer's messages
are the ones waited for and counted unread, and nothing is marked read with the customer's PUT
(the customer's messages are read when the shopper answers, as the server records it).
"""

from __future__ import annotations

import atexit
import bisect
import contextlib
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from shopper_chat.client._validate import check_message
from shopper_chat.client.errors import (
    APIConnectionError,
    APIError,
    ChatNotAllowedError,
    ConnectError,
    InvalidRequestError,
    NotFoundError,
    WaitTimeout,
)
from shopper_chat.client.poller import (
    MetadataChanged,
    NewMessage,
    PollFailed,
    ReadChanged,
    StateChanged,
    Stopped,
)
from shopper_chat.contract import BLANK, ChatMetadata, SenderRole
from shopper_chat.contract import MAX_MESSAGE_LENGTH as MAX_BODY_CHARS
from shopper_chat.transcripts import UNKNOWN_SENDER

if TYPE_CHECKING:
    import pandas as pd

    from shopper_chat.client import ChatMessage, ChatPoller, Client

__all__ = [
    "ChatClosedError",
    "ChatEntry",
    "ChatModel",
    "EmptyMessageError",
    "MAX_BODY_CHARS",
    "MessageTooLongError",
    "ModelChange",
    "PanelStatus",
    "SendInProgressError",
    "describe_error",
]

Role = SenderRole
Viewer = Literal["customer", "shopper"]
PollState = Literal["idle", "live", "backing_off", "stopped"]
StopReason = Literal["state", "timeout", "stopped", "closed", "hidden", "expired", "error",
                     "not_found", "not_allowed", "shutdown"]


class EmptyMessageError(InvalidRequestError):
    """Neither text nor an image: nothing is sent."""


class MessageTooLongError(InvalidRequestError):
    """The text is over the API's limit (`MAX_BODY_CHARS`): nothing is sent."""


class ChatClosedError(ConnectError, RuntimeError):
    """The order does not exist, or its chat expired or is not allowed: nothing is sent."""


class SendInProgressError(ConnectError, RuntimeError):
    """A send is already on its way; a second one would risk a duplicate."""


@dataclass(frozen=True)
class ChatEntry:
    """One message as the panel shows it.

    `confirmed` is False for a message this panel sent whose server copy the poller has not yet
    returned (shown from the send's answer so the customer sees it at once).
    """

    id: int
    role: Role
    sender_name: str
    body: str
    image: str
    created_at: datetime
    read: bool
    read_at: datetime | None
    confirmed: bool = True

    @property
    def from_shopper(self) -> bool:
        return self.role == "shopper"

    @property
    def from_customer(self) -> bool:
        return self.role == "customer"


@dataclass(frozen=True)
class PanelStatus:
    """What the header shows: order, shopper, workflow state, polling state and unread count."""

    order_id: str
    poll_state: PollState
    workflow_state: str | None
    customer_name: str
    shopper_name: str
    shopper_avatar: str
    unread_count: int
    stop_reason: StopReason | None
    detail: str
    """A sentence: why polling stopped, or the last poll error while backing off."""
    retry_in: float | None
    chat_open: bool
    """False when the order does not exist, the chat expired or is not allowed: no sending."""


@dataclass(frozen=True)
class ModelChange:
    """A notification to the view. `kind`: "added" (new entries, oldest first), "updated" (entries
    whose read state or server copy changed) or "status" (the header's facts changed)."""

    kind: Literal["added", "updated", "status"]
    entries: tuple[ChatEntry, ...] = ()


Listener = Callable[[ModelChange], None]

_live_models: weakref.WeakSet[ChatModel] = weakref.WeakSet()


@atexit.register
def _stop_all_at_exit() -> None:
    # Kernel shutdown ends the interpreter: stop every poll loop so no request is left mid-way.
    for model in list(_live_models):
        model.stop(reason="shutdown", join=False)


class ChatModel:
    """Conversation state for one order, kept current by a background poll loop.

    Args:
        client: a `shopper_chat.Client` whose user is the order's customer (`client.set_user`).
        order_id: the retailer's order id.
        stop_states: order workflow states at which polling stops (the tutorial's: `checkout`).
        interval: seconds between polls while live.
        poller_factory: builds the poller (default `shopper_chat.ChatPoller`); a seam for tests.
        role: whose side the model is on: `customer` (the order status page) or `shopper` (a
            person playing the shopper through the development server's control plane).
    """

    def __init__(
        self,
        client: Client,
        order_id: str,
        *,
        stop_states: Sequence[str] = ("checkout",),
        interval: float = 1.0,
        poller_factory: Callable[..., ChatPoller] | None = None,
        role: Viewer = "customer",
    ) -> None:
        if role not in ("customer", "shopper"):
            raise InvalidRequestError("role must be customer or shopper", param="role")
        self.role: Viewer = role
        self._other: Role = "shopper" if role == "customer" else "customer"
        if not order_id:
            raise InvalidRequestError("order_id is required", param="order_id")
        if interval <= 0:
            raise InvalidRequestError("interval must be positive", param="interval")
        self._client = client
        self.order_id = str(order_id)
        self.stop_states = tuple(stop_states)
        self.interval = float(interval)
        self._poller_factory = poller_factory
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._listeners: list[Listener] = []
        self._entries: dict[int, ChatEntry] = {}
        self._metadata = ChatMetadata()
        # Kept as entries change, so that neither a poll nor a wait scans the whole conversation:
        # the ids in order, and the ids of the unread shopper messages (the header's count).
        self._ids: list[int] = []
        self._unread: set[int] = set()
        self._seen: set[int] = set()
        self._wait_cursor = 0
        self._send_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop_requested: StopReason | None = None
        self._poller: ChatPoller | None = None
        self.mark_read_calls = 0
        """How many PUTs this model has sent (the read rule is observable in tests)."""
        self.poll_count = 0
        """How many polls have completed (successfully or not)."""
        self._status = PanelStatus(
            order_id=self.order_id, poll_state="idle", workflow_state=None, customer_name="",
            shopper_name="", shopper_avatar="", unread_count=0, stop_reason=None, detail="",
            retry_in=None, chat_open=True,
        )

    # -- reading state -------------------------------------------------------------------------
    @property
    def status(self) -> PanelStatus:
        with self._lock:
            return self._status

    @property
    def entries(self) -> list[ChatEntry]:
        """Every message known so far, oldest first (message ids grow with time)."""
        with self._lock:
            return [self._entries[i] for i in self._ids]

    @property
    def unread_count(self) -> int:
        with self._lock:
            return self._status.unread_count

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` on every change (from any thread); returns a function to unsubscribe."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    # -- life cycle ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start polling in a background thread (idempotent; a stopped model stays stopped)."""
        with self._lock:
            if self._thread is not None or self._stop_requested is not None:
                return
            self._thread = threading.Thread(
                target=self._run, name=f"shopper-chat-panel-{self.order_id}", daemon=True
            )
            _live_models.add(self)
            thread = self._thread
        # Listeners run outside the model's lock (a view may take its own lock, then ours).
        self._set_status(poll_state="live", detail="")
        thread.start()

    def stop(self, reason: StopReason = "stopped", *, join: bool = True) -> None:
        """Stop polling; the status says why. Safe from any thread, and more than once."""
        with self._lock:
            if self._stop_requested is None:
                self._stop_requested = reason
            thread = self._thread
            poller = self._poller
            never_started = thread is None and self._status.poll_state != "stopped"
        if never_started:
            self._set_stopped(reason, _REASON_TEXT.get(reason, reason))
        if poller is not None:
            with contextlib.suppress(Exception):  # stopping must never fail
                poller.stop()
        self._wake.set()
        if join and thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)

    def close(self) -> None:
        """Stop polling because the panel is closed."""
        self.stop(reason="closed")

    # -- the user's actions --------------------------------------------------------------------
    def validate(self, body: str, image_url: str | None = None) -> tuple[str, str]:
        """The message as it would be sent (trimmed), or raise the reason it would not be.

        The client's `check_message` decides, as for `client.chat.send`: `EmptyMessageError`,
        `MessageTooLongError` or `InvalidRequestError` (all of them `InvalidRequestError`s, with
        every problem in `.problems`).
        """
        try:
            message = check_message((body or "").strip(), (image_url or "").strip())
        except InvalidRequestError as exc:
            raise _refused(exc) from None
        return message.body or "", message.image_url or ""

    def send(self, body: str, image_url: str | None = None) -> ChatEntry:
        """Send a customer message once; returns its entry (shown at once, confirmed by a poll).

        Raises `EmptyMessageError`, `MessageTooLongError` or `InvalidRequestError` before any
        request, `SendInProgressError` while another send is on its way, and the client's
        `ConnectError`s when the server refuses or cannot be reached. Never retries: the client's
        send already makes ambiguous failures exactly-once, and a second attempt is the user's
        decision.
        """
        text, image = self.validate(body, image_url)
        if not self._status.chat_open:
            raise ChatClosedError(f"Chat is closed for this order: {self._status.detail}")
        if not self._send_lock.acquire(blocking=False):
            raise SendInProgressError("A message is already being sent; wait for it to finish.")
        try:
            if self.role == "shopper":
                sent: Any = self._client.emulator.send_as_shopper(
                    self.order_id, body=text or None, image_url=image or None)
            else:
                sent = self._client.chat.send(self.order_id, body=text or None,
                                              image_url=image or None)  # fmt: skip
        finally:
            self._send_lock.release()
        entry = ChatEntry(
            id=int(sent.id), role=self.role, sender_name=self._name_for(self.role),
            body=text, image=image, created_at=sent.created_at, read=False, read_at=None,
            confirmed=False,
        )
        with self._lock:
            self._wait_cursor = max(self._wait_cursor, entry.id)
            added = entry.id not in self._entries
            if added:
                self._store(entry)
        if added:
            self._emit(ModelChange("added", (entry,)))
        self.start()
        self._wake.set()  # poll soon: the server copy, and perhaps the shopper's answer
        return entry

    @property
    def sending(self) -> bool:
        return self._send_lock.locked()

    def report_seen(self, message_ids: Iterable[int]) -> None:
        """The view says the user has seen these shopper messages (see the module's read rule)."""
        with self._lock:
            before = len(self._seen)
            self._seen.update(int(i) for i in message_ids)
            grew = len(self._seen) > before
        if grew:
            self._wake.set()  # poll now, then mark read if every unread message is seen

    def mark_read(self) -> int:
        """Mark every unread shopper message read now (headless: the caller has seen them).

        The shopper's side marks nothing (0): its reading shows when it answers."""
        if self.role != "customer":
            return 0
        with self._lock:
            unread = sorted(self._unread)
            self._seen.update(unread)
        return self._put_read(unread)

    def wait_for_messages(
        self,
        count: int = 1,
        timeout: float = 30.0,
        *,
        sender: Literal["shopper", "customer", "any"] | None = None,
    ) -> list[ChatEntry]:
        """Block until `count` messages you have not waited for yet, newer than your last send.

        `sender`: whose messages (default: the other side's, the shopper's for the customer).

        Returns every such message (at least `count`, oldest first) and moves the cursor past
        them. Starts polling if needed. Raises `WaitTimeout` after `timeout` seconds, or at once
        when polling has stopped without them.
        """
        if count < 1:
            raise InvalidRequestError("count must be at least 1", param="count")
        if sender is None:
            sender = "shopper" if self.role == "customer" else "customer"
        self.start()
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                # Only the entries after the cursor: a wait does not rescan the conversation.
                newer = self._ids[bisect.bisect_right(self._ids, self._wait_cursor):]
                fresh = [
                    e for e in (self._entries[i] for i in newer)
                    if e.confirmed and (sender == "any" or e.role == sender)
                ]
                if len(fresh) >= count:
                    self._wait_cursor = fresh[-1].id
                    return fresh
                if self._status.poll_state == "stopped":
                    raise WaitTimeout(
                        f"Polling stopped ({self._status.detail}) before {count} new "
                        f"{sender} message(s) arrived for order {self.order_id}."
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WaitTimeout(
                        f"No {count} new {sender} message(s) for order {self.order_id} "
                        f"within {timeout:g} s."
                    )
                self._changed.wait(min(left, 0.5))

    def wait_for_polls(self, count: int = 1, timeout: float = 30.0) -> None:
        """Block until `count` more polls have completed (raises `WaitTimeout`)."""
        self.start()
        deadline = time.monotonic() + timeout
        with self._changed:
            target = self.poll_count + count
            while self.poll_count < target:
                if self._status.poll_state == "stopped":
                    raise WaitTimeout(f"Polling stopped: {self._status.detail}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WaitTimeout(f"{count} poll(s) did not complete within {timeout:g} s.")
                self._changed.wait(min(left, 0.5))

    def wait_for_status(
        self, predicate: Callable[[PanelStatus], bool], timeout: float = 30.0
    ) -> PanelStatus:
        """Block until the status satisfies `predicate`; returns it (raises `WaitTimeout`)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self._status):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WaitTimeout(f"The panel's status did not change as expected within "
                                      f"{timeout:g} s (now: {self._status.poll_state}, "
                                      f"{self._status.detail or 'no detail'}).")
                self._changed.wait(min(left, 0.5))
            return self._status

    def transcript(self) -> pd.DataFrame:
        """The conversation as a DataFrame (`shopper_chat.transcripts.to_frame`), fetched fresh."""
        from shopper_chat import transcripts

        conversation = self._client.chat.messages(self.order_id)
        return transcripts.to_frame(conversation)

    # -- the poll loop -------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._poll_loop()
        except Exception as exc:  # noqa: BLE001 - the loop must end with a reason, not silently
            self._set_stopped("error", f"polling failed unexpectedly: {exc!r}")

    def _sleep(self, seconds: float) -> bool:
        """Wait `seconds` or until woken; False when a stop was requested."""
        if self._stop_requested is not None:
            return False
        self._wake.wait(seconds)
        self._wake.clear()
        return self._stop_requested is None

    def _check_stop(self) -> bool:
        reason = self._stop_requested
        if reason is not None:
            self._set_stopped(reason, _REASON_TEXT.get(reason, reason))
            return True
        return False

    def _make_poller(self) -> ChatPoller:
        from shopper_chat.client.poller import ChatPoller

        factory = self._poller_factory or ChatPoller
        # The panel calls poll_once() and does its own interruptible waiting between polls; the
        # poller's first poll is the panel's first load (the metadata, then every message).
        return factory(self._client, self.order_id, interval=self.interval,
                       stop_states=self.stop_states, watch_metadata=True)

    def _poll_loop(self) -> None:
        poller = self._make_poller()
        with self._lock:
            self._poller = poller
        while True:
            if self._check_stop():
                return
            events = poller.poll_once()
            with self._changed:
                self.poll_count += 1
                self._changed.notify_all()
            retry_in: float | None = None
            # A poll's message events come together (after its state and metadata, before a
            # stop): each run of them is applied at once, so the view gets one change per poll
            # and the first poll of a long conversation is not one update per message.
            pending: list[NewMessage | ReadChanged] = []
            for event in events:
                if isinstance(event, (NewMessage, ReadChanged)):
                    pending.append(event)
                    continue
                if pending:
                    self._apply_message_events(pending)
                    pending = []
                if isinstance(event, StateChanged):
                    self._set_status(workflow_state=event.new)
                elif isinstance(event, MetadataChanged):
                    self._apply_metadata(event.metadata)
                elif isinstance(event, PollFailed):
                    retry_in = event.retry_in
                    self._set_status(poll_state="backing_off", detail=describe_error(event.error),
                                     retry_in=retry_in)
                elif isinstance(event, Stopped):
                    if self._check_stop():
                        return
                    self._stopped_by_poller(event, poller.error)
                    return
            if pending:
                self._apply_message_events(pending)
            if retry_in is None:
                if self._status.poll_state != "live":
                    self._set_status(poll_state="live", detail="", retry_in=None)
                self._maybe_mark_read()
            if not self._sleep(retry_in if retry_in is not None else self.interval):
                self._check_stop()
                return

    def _apply_message_events(self, events: Sequence[NewMessage | ReadChanged]) -> None:
        """Apply one poll's new messages and read changes in one update."""
        self._apply_messages([event.message for event in events])

    def _apply_metadata(self, metadata: ChatMetadata) -> None:
        """The names and avatar from the conversation's metadata; entries shown under the old
        names are renamed (a shopper joins when the order is batched after the panel opened)."""
        shoppers = metadata.shoppers
        with self._lock:
            self._metadata = metadata  # who is who, for messages without a sender type
        self._set_status(
            customer_name=metadata.customer.display_name if metadata.customer else "",
            shopper_name=shoppers[0].display_name if shoppers else "",
            shopper_avatar=shoppers[0].avatar_url if shoppers else "",
        )
        with self._lock:
            named = [e for e in self._entries.values() if e.role != "unknown"]
        self._apply_messages_renamed(named)

    def _stopped_by_poller(self, event: Stopped, error: ConnectError | None) -> None:
        if isinstance(error, NotFoundError):
            self._set_stopped("not_found", _not_found(self.order_id), chat_open=False)
        elif isinstance(error, ChatNotAllowedError):
            self._set_stopped("not_allowed", f"chat is not available: {error}", chat_open=False)
        elif event.reason == "state":
            self._set_stopped("state", f"the order reached {event.detail} (the tutorial's rule: "
                                       "chat polling ends there)")
        elif event.reason == "expired":
            self._set_stopped("expired", _REASON_TEXT["expired"], chat_open=False)
        elif event.reason == "error":
            self._set_stopped("error", event.detail or "polling failed")
        else:
            self._set_stopped(event.reason, _REASON_TEXT.get(event.reason, event.detail))

    # -- state changes -------------------------------------------------------------------------
    def _apply_messages_renamed(self, entries: list[ChatEntry]) -> None:
        """Give entries the display names the metadata now has."""
        updated: list[ChatEntry] = []
        with self._lock:
            for entry in entries:
                name = self._name_for(entry.role)
                if entry.sender_name != name:
                    new = replace(entry, sender_name=name)
                    self._store(new)
                    updated.append(new)
        if updated:
            self._emit(ModelChange("updated", tuple(updated)))

    def _name_for(self, role: Role) -> str:
        if role == "shopper":
            return self._status.shopper_name or "Shopper"
        if role == "customer":
            return self._status.customer_name or "You"
        return UNKNOWN_SENDER

    def _entry_from(self, message: ChatMessage) -> ChatEntry:
        # The rule the transcripts follow: `sender_type`, else the ids in the metadata.
        with self._lock:
            role = self._metadata.sender_role(message)
        return ChatEntry(
            id=message.id, role=role, sender_name=self._name_for(role), body=message.body,
            image=message.image, created_at=message.created_at, read=message.read,
            read_at=message.read_at, confirmed=True,
        )

    def _apply_messages(self, messages: Iterable[ChatMessage]) -> None:
        added: list[ChatEntry] = []
        updated: list[ChatEntry] = []
        with self._lock:
            for message in messages:
                entry = self._entry_from(message)
                old = self._entries.get(entry.id)
                if old is None:
                    added.append(entry)
                elif old != entry:
                    if old.read and not entry.read and old.confirmed:
                        continue  # marked read locally after our PUT; this poll predates it
                    updated.append(entry)
                else:
                    continue
                self._store(entry)
            unread = len(self._unread)
        if added:
            self._emit(ModelChange("added", tuple(sorted(added, key=lambda e: e.id))))
        if updated:
            self._emit(ModelChange("updated", tuple(updated)))
        if added or updated:
            self._set_status(unread_count=unread)

    def _store(self, entry: ChatEntry) -> None:
        """Put an entry in (new or a new copy); keeps the id order and the unread set current.

        Call with the lock held. Costs the same however long the conversation is: ids grow with
        time, so a new one is almost always appended.
        """
        if entry.id not in self._entries:
            if not self._ids or entry.id > self._ids[-1]:
                self._ids.append(entry.id)
            else:
                bisect.insort(self._ids, entry.id)
        self._entries[entry.id] = entry
        if entry.role == self._other and not entry.read:
            self._unread.add(entry.id)
        else:
            self._unread.discard(entry.id)

    def _maybe_mark_read(self) -> None:
        if self.role != "customer":
            return  # the API's PUT is the customer's
        with self._lock:
            if not self._unread or not self._unread <= self._seen:
                return
            unread = sorted(self._unread)
        try:
            self._put_read(unread)
        except ConnectError as exc:
            # Not fatal: the rule is checked again after the next poll.
            self._set_status(detail=f"could not mark messages read: {describe_error(exc)}")

    def _put_read(self, ids: list[int]) -> int:
        if not ids:
            return 0
        count = self._client.chat.mark_read(self.order_id)
        updated: list[ChatEntry] = []
        with self._lock:
            self.mark_read_calls += 1
            for i in ids:
                old = self._entries.get(i)
                if old is not None and not old.read:
                    # read_at stays unknown until the server's copy arrives (a poll right away).
                    new = replace(old, read=True)
                    self._store(new)
                    updated.append(new)
            unread = len(self._unread)
        if updated:
            self._emit(ModelChange("updated", tuple(updated)))
        self._set_status(unread_count=unread)
        self._wake.set()
        return count

    def _set_status(self, **changes: Any) -> None:
        with self._lock:
            new = replace(self._status, **changes)
            if new == self._status:
                return
            self._status = new
        self._emit(ModelChange("status"))

    def _set_stopped(
        self, reason: StopReason, detail: str, *, chat_open: bool | None = None
    ) -> None:
        changes: dict[str, Any] = {
            "poll_state": "stopped", "stop_reason": reason, "detail": detail, "retry_in": None,
        }
        if chat_open is not None:
            changes["chat_open"] = chat_open
        self._set_status(**changes)

    def _emit(self, change: ModelChange) -> None:
        with self._lock:
            listeners = list(self._listeners)
            self._changed.notify_all()
        for listener in listeners:
            try:
                listener(change)
            except Exception:  # noqa: BLE001 - a view bug must not end the poll loop
                import logging

                logging.getLogger(__name__).exception("chat panel view failed to update")


_REASON_TEXT: dict[str, str] = {
    "stopped": "polling was stopped",
    "closed": "the panel was closed",
    "hidden": "the panel is no longer displayed (its cell was re-run or its output cleared)",
    "shutdown": "the kernel is shutting down",
    "expired": "the chat has expired (messages are kept 24 h after delivery)",
    "timeout": "the poller's time limit was reached",
}


def _refused(error: InvalidRequestError) -> InvalidRequestError:
    """The client's refusal of a message, as the panel says it (nothing was sent)."""
    first = error.problems[0] if error.problems else None
    if first is not None and first.key == "body" and first.message == BLANK:
        return EmptyMessageError("Type a message (or add an image URL) first: nothing was sent.",
                                 param="body", problems=error.problems)
    kind = MessageTooLongError if first is not None and first.key == "body" else InvalidRequestError
    return kind(f"{error.message}: nothing was sent.", param=error.param, problems=error.problems)


def _not_found(order_id: str) -> str:
    return (f"order {order_id} was not found: check the order id, and that the client's user "
            "is the order's customer")


def describe_error(exc: BaseException) -> str:
    """One short sentence for the panel: what failed, never a token or a request body."""
    if isinstance(exc, APIError):
        return f"the server answered {exc.status_code}: {exc.message.rstrip('.')}"
    if isinstance(exc, APIConnectionError):
        return f"no answer from the server ({exc.message.rstrip('.')})"
    return str(exc).rstrip(".") or type(exc).__name__
