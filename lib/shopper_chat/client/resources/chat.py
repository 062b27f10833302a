"""`client.chat`: the conversation of an order, sending, marking read (the customer's token).

Sending exactly once. A send is not retried blindly. When it fails in a way that proves the
server did not store it (a 429, a 503 or 408 in the API's envelope, a connection never made), it
is tried again within the retry budget. When the outcome is open (the connection dropped after
the request went out, no answer in time, another 5xx), the client waits its backoff delay, reads
the conversation, and sends again only if no customer message with the same text (or, for an
image alone, an image) newer than the newest message it knew of before the first attempt is
there; if one is, that message is returned (`SentMessage.recovered`). So one call stores the
message once. (The one case this cannot settle: a server still working on the first request
after the timeout and the backoff delay both ran out.)
"""

from __future__ import annotations

import functools
import threading
from typing import Any, Literal

from shopper_chat.client._http import logger, surely_not_processed
from shopper_chat.client._models import (
    ChatMessage,
    Conversation,
    MessageCache,
    SentMessage,
    messages_read_count,
)
from shopper_chat.client._validate import MAX_BODY_CHARS, check_str_id, segment
from shopper_chat.client.errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    ConnectError,
    InvalidRequestError,
    InvalidTypeError,
    ServerError,
    WaitTimeout,
)
from shopper_chat.client.resources._base import Resource

__all__ = ["Chat", "SenderFilter"]

SenderFilter = Literal["driver", "user", "any"]


def _outcome_open(error: ConnectError) -> bool:
    """Might the server have stored the message despite this failure?"""
    if isinstance(error, APIConnectionError):
        return error.may_have_arrived
    return isinstance(error, ServerError)


class Chat(Resource):
    """The chat of one order: `messages`, `send`, `mark_read`, `wait_for_messages`."""

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self._lock = threading.Lock()
        self._newest: dict[str, int] = {}
        """Per order: the newest message id this client has seen or sent (any read)."""
        self._cursor: dict[str, int] = {}
        """Per order: the newest message id already handed to the caller."""

    # -- helpers ---------------------------------------------------------------------------------
    @staticmethod
    def _target(order_id: str | int, internal_ids: bool) -> tuple[str, str, dict[str, str]]:
        if internal_ids:
            if isinstance(order_id, bool) or not isinstance(order_id, (int, str)):
                raise InvalidTypeError("order_id must be an int or str", param="order_id")
            key = str(order_id)
            check_str_id("order_id", key)
            headers = {"X-Treat-Ids-As-Internal": "true"}
        else:
            key = check_str_id("order_id", order_id)
            headers = {}
        return key, f"/v2/post_checkout/chat/{segment(key)}/messages", headers

    def _note(self, table: dict[str, int], key: str, message_id: int) -> None:
        with self._lock:
            if message_id > table.get(key, 0):
                table[key] = message_id

    def _fetch(
        self, order_id: str | int, *, internal_ids: bool = False, max_retries: int | None = None,
        known: MessageCache | None = None,
    ) -> Conversation:
        """The conversation, without moving the caller's cursor (the poller reads this way,
        with its own `known` messages)."""
        key, path, headers = self._target(order_id, internal_ids)
        data = self._client._call("GET", path, auth=self._client._user_auth(), headers=headers,
                                  idempotent=True, max_retries=max_retries)
        conversation: Conversation = self._client._parse(
            functools.partial(Conversation.from_api, known=known), data, "GET", path
        )
        if conversation.chat_messages:
            self._note(self._newest, key, max(m.id for m in conversation.chat_messages))
        return conversation

    # -- the API -----------------------------------------------------------------------------------
    def messages(self, order_id: str | int, internal_ids: bool = False) -> Conversation:
        """`GET /v2/post_checkout/chat/{order_id}/messages`: the whole conversation, oldest first.

        `internal_ids=True` sends `X-Treat-Ids-As-Internal: true` (the id is Instacart's).
        """
        conversation = self._fetch(order_id, internal_ids=internal_ids)
        if conversation.chat_messages:
            key = str(order_id)
            self._note(self._cursor, key, max(m.id for m in conversation.chat_messages))
        return conversation

    def send(
        self, order_id: str, body: str | None = None, image_url: str | None = None
    ) -> SentMessage:
        """`POST /v2/post_checkout/chat/{order_id}/messages`: a customer message, sent once.

        Text or an image URL or both ("" counts as absent). Refused before any request: neither
        ("can't be blank"), a body over 1000 characters ("is too long (maximum is 1000
        characters)"), an image URL that is not http(s) ("is invalid").
        """
        key, path, _ = self._target(order_id, False)
        text, image = self._check_message(body, image_url)
        payload = {"body": text, "image_url": image}

        self._client._check_open()
        known = self._newest.get(key)
        baseline = known if known is not None else self._newest_id(key)
        core = self._client._core
        budget = core.budget()
        auth = self._client._user_auth()
        token = auth.token()
        renewed = False
        attempt = 0
        while True:
            attempt += 1
            error: ConnectError
            try:
                response = core.send_once("POST", path, json_body=payload, token=token,
                                          attempt=attempt)
            except APIConnectionError as exc:
                error = exc
            else:
                if response.is_success:
                    data = core.json_of(response, "POST", path)
                    sent: SentMessage = self._client._parse(SentMessage.from_api, data, "POST",
                                                            path)
                    self._note(self._newest, key, sent.id)
                    self._note(self._cursor, key, sent.id)
                    return sent
                error = core.error_for(response, "POST", path)
                if isinstance(error, AuthenticationError) and auth.renewable and not renewed:
                    renewed = True  # a 401 means nothing was stored: once more, fresh token
                    token = auth.token(renew=True)
                    continue
            if surely_not_processed(error):
                # Refused before it was stored: trying again cannot duplicate it.
                delay = budget.delay_for(error)
                if delay is None:
                    raise error
                budget.wait(delay, error)
            elif _outcome_open(error):
                # Wait first, so that a request still in flight has landed when we look.
                delay = budget.delay_for(error)
                if delay is not None:
                    budget.wait(delay, error)
                stored = self._find_stored(key, baseline, text, image, error)
                if stored is not None:
                    logger.info("the message was stored despite the failure: not sent again")
                    return stored
                logger.info("the message was not stored: sending it again")
                if delay is None:
                    raise error
            else:
                raise error

    def mark_read(self, order_id: str) -> int:
        """`PUT /v2/post_checkout/chat/{order_id}/messages`: every unread shopper message is marked
        read; returns `messages_read_count`."""
        _, path, _ = self._target(order_id, False)
        data = self._client._call("PUT", path, auth=self._client._user_auth(), idempotent=True)
        count: int = self._client._parse(messages_read_count, data, "PUT", path)
        return count

    def wait_for_messages(
        self,
        order_id: str,
        sender_type: SenderFilter | None = "driver",
        count: int = 1,
        timeout: float = 30.0,
        interval: float = 1.0,
    ) -> list[ChatMessage]:
        """Block until `count` new messages from `sender_type` ("driver": the shopper, "user":
        the customer, "any"/None: either); returns every such message (oldest first).

        New means newer than the newest message this client has already handed you for the order
        (from `messages`, `send` or an earlier wait); for an order it has not read yet, every
        message counts. Raises `WaitTimeout` after `timeout` seconds (or when the chat expires),
        and the API's error when polling cannot go on (unknown order, chat not allowed).
        """
        from shopper_chat.client.poller import ChatPoller, NewMessage, Stopped

        key = check_str_id("order_id", order_id)
        if sender_type not in ("driver", "user", "any", None):
            raise InvalidRequestError(
                f"sender_type must be 'driver', 'user' or 'any', got {sender_type!r}",
                param="sender_type",
            )
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise InvalidRequestError("count must be an int >= 1", param="count")
        if timeout <= 0 or interval <= 0:
            raise InvalidRequestError("timeout and interval must be positive", param="timeout")
        cursor = self._cursor.get(key, 0)
        settings = self._client._core.settings
        poller = ChatPoller(self._client, key, interval=interval, stop_states=(),
                            timeout=timeout, sleep=settings.sleep, clock=settings.clock,
                            watch_state=False)
        found: list[ChatMessage] = []
        for event in poller:
            if isinstance(event, NewMessage):
                message = event.message
                if message.id > cursor and sender_type in (None, "any", message.sender_type):
                    found.append(message)
                    if len(found) >= count:
                        poller.stop()  # the rest of this poll's events still come first
            elif isinstance(event, Stopped):
                if len(found) >= count:
                    break
                if event.reason == "error" and isinstance(poller.error, APIError):
                    raise poller.error
                raise WaitTimeout(
                    f"{count} new message(s) from {sender_type or 'any'} for order {key} did not "
                    f"arrive ({event.detail or event.reason}); {len(found)} did."
                )
        self._note(self._cursor, key, found[-1].id)
        return found

    # -- sending, exactly once ---------------------------------------------------------------
    @staticmethod
    def _check_message(body: str | None, image_url: str | None) -> tuple[str, str]:
        if body is not None and not isinstance(body, str):
            raise InvalidTypeError(f"body must be a str or None, got {type(body).__name__}",
                                   param="body")
        if image_url is not None and not isinstance(image_url, str):
            raise InvalidTypeError(
                f"image_url must be a str or None, got {type(image_url).__name__}",
                param="image_url",
            )
        text = body or ""
        image = image_url or ""
        if not text and not image:
            raise InvalidRequestError("body can't be blank (send text, an image_url, or both)",
                                      param="body")
        if len(text) > MAX_BODY_CHARS:
            raise InvalidRequestError(
                f"body is too long (maximum is {MAX_BODY_CHARS} characters): it has {len(text)}",
                param="body",
            )
        if image and not image.lower().startswith(("http://", "https://")):
            raise InvalidRequestError("image_url is invalid (an http or https URL is needed)",
                                      param="image_url")
        return text, image

    def _newest_id(self, key: str) -> int:
        conversation = self._fetch(key)
        return max((m.id for m in conversation.chat_messages), default=0)

    def _find_stored(
        self, key: str, baseline: int, text: str, image: str, error: ConnectError
    ) -> SentMessage | None:
        """After an open outcome: the message if the server stored it, else None (send again)."""
        try:
            conversation = self._fetch(key)
        except ConnectError:
            raise error from None  # still unknown: say what failed first
        for message in conversation.chat_messages:
            if message.id <= baseline or message.sender_type == "driver":
                continue
            same = message.body == text if text else (not message.body and bool(message.image))
            if same:
                self._note(self._cursor, key, message.id)
                return SentMessage(id=message.id, type="CHAT", created_at=message.created_at,
                                   timezone="", recovered=True)
        return None
