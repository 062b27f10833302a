"""`client.chat`: the conversation of an order, sending, marking read (the customer's token).

Sending exactly once. A send is not retried blindly. When it fails in a way that proves the
server did not store it (a 429, a 503 or 408 in the API's envelope, a connection never made), it
is tried again within the retry budget. When the outcome is open (the connection dropped after
the request went out, no answer in time, another 5xx), the HTTP core settles it (`read_back`,
see `HTTPCore.settle`): the conversation is read at once and again after each backoff delay,
for up to the settling window (2.5 times the client's timeout), looking for a customer message
with the same text (or, for an image alone, an image) newer than the newest message the client
knew of before the first attempt. Found: that message is returned (`SentMessage.recovered`);
not found in the whole window: the message is sent again. So one call stores the message once,
as long as a request still in flight lands within the window. (One that lands later than that,
after the message was sent again, is stored twice: nothing on the client's side can tell.)
"""

from __future__ import annotations

from typing import Literal

from shopper_chat.client._http import logger
from shopper_chat.client._parse import MessageCache
from shopper_chat.client._validate import check_id, check_message, segment
from shopper_chat.client.errors import ConnectError, InvalidRequestError, InvalidTypeError
from shopper_chat.client.resources._base import Resource
from shopper_chat.contract import ChatMessage, Conversation, MessagesRead, SentMessage

__all__ = ["Chat", "SenderFilter"]

SenderFilter = Literal["driver", "user", "any"]


class Chat(Resource):
    """The chat of one order: `messages`, `send`, `mark_read`, `wait_for_messages`."""

    # -- helpers ---------------------------------------------------------------------------------
    @staticmethod
    def _target(order_id: str | int, internal_ids: bool) -> tuple[str, str, dict[str, str]]:
        if internal_ids:
            if isinstance(order_id, bool) or not isinstance(order_id, (int, str)):
                raise InvalidTypeError("order_id must be an int or str", param="order_id")
            key = check_id("order_id", str(order_id))
            headers = {"X-Treat-Ids-As-Internal": "true"}
        else:
            key = check_id("order_id", order_id)
            headers = {}
        return key, f"/v2/post_checkout/chat/{segment(key)}/messages", headers

    def _fetch(
        self, order_id: str | int, *, internal_ids: bool = False, max_retries: int | None = None,
        known: MessageCache | None = None,
    ) -> Conversation:
        """The conversation, without handing it to the caller (the poller reads this way, with
        its own `known` messages)."""
        key, path, headers = self._target(order_id, internal_ids)
        conversation = self._client._call(
            "GET", path, known.conversation if known is not None else Conversation,
            auth=self._client._user_auth(), headers=headers, idempotent=True,
            max_retries=max_retries,
        )
        self._client._cursors.note(key, _newest(conversation), handed=False)
        return conversation

    # -- the API -----------------------------------------------------------------------------------
    def messages(self, order_id: str | int, internal_ids: bool = False) -> Conversation:
        """`GET /v2/post_checkout/chat/{order_id}/messages`: the whole conversation, oldest first.

        `internal_ids=True` sends `X-Treat-Ids-As-Internal: true` (the id is Instacart's).
        """
        conversation = self._fetch(order_id, internal_ids=internal_ids,
                                   known=self._client._messages)  # fmt: skip
        self._client._cursors.note(str(order_id), _newest(conversation), handed=True)
        return conversation

    def send(
        self, order_id: str, body: str | None = None, image_url: str | None = None
    ) -> SentMessage:
        """`POST /v2/post_checkout/chat/{order_id}/messages`: a customer message, sent once.

        Text or an image URL or both ("" counts as absent). Refused before any request, with the
        contract's rules (`check_message`): neither ("can't be blank"), a body over the limit
        ("is too long (maximum is 1000 characters)"), an image URL that is not http(s)
        ("is invalid"); several problems are all listed.
        """
        key, path, _ = self._target(order_id, False)
        message = check_message(body, image_url)
        self._client._check_open()
        baseline = self._client._cursors.seen(key)
        if baseline is None:
            baseline = _newest(self._fetch(key))

        def read_back(error: ConnectError) -> SentMessage | None:
            stored = self._find_stored(key, baseline, message.body or "",
                                       message.image_url or "", error)
            if stored is not None:
                logger.info("the message was stored despite the failure: not sent again")
            return stored

        # The tutorial's form: both fields, "" for the one left out.
        payload = {"body": message.body or "", "image_url": message.image_url or ""}
        sent = self._client._call("POST", path, SentMessage, auth=self._client._user_auth(),
                                  json_body=payload, idempotent=False, read_back=read_back)
        self._client._cursors.note(key, sent.id, handed=True)
        return sent

    def mark_read(self, order_id: str) -> int:
        """`PUT /v2/post_checkout/chat/{order_id}/messages`: every unread shopper message is marked
        read; returns `messages_read_count`."""
        _, path, _ = self._target(order_id, False)
        read = self._client._call("PUT", path, MessagesRead, auth=self._client._user_auth(),
                                  idempotent=True)
        return read.messages_read_count

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
        from shopper_chat.client.poller import wait_for_messages

        key = check_id("order_id", order_id)
        if sender_type not in ("driver", "user", "any", None):
            raise InvalidRequestError(
                f"sender_type must be 'driver', 'user' or 'any', got {sender_type!r}",
                param="sender_type",
            )
        found = wait_for_messages(self._client, key, after=self._client._cursors.handed(key),
                                  sender_type=sender_type, count=count, timeout=timeout,
                                  interval=interval)
        self._client._cursors.note(key, found[-1].id, handed=True)
        return found

    # -- sending, exactly once ---------------------------------------------------------------
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
            if message.body == text if text else (not message.body and bool(message.image)):
                return SentMessage(id=message.id, type="CHAT", created_at=message.created_at,
                                   timezone="", recovered=True)
        return None


def _newest(conversation: Conversation) -> int:
    return max((m.id for m in conversation.chat_messages), default=0)
