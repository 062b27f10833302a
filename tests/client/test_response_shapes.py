"""Typed results: parsed from the documented shapes; anything else names the offending field.

Every answer is read by the client's one parsing function (`parse`, the contract's models). The
development server always answers in the documented shape, so malformed answers come from an
`httpx.MockTransport` (the one seam used here).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest
from shopper_chat import ChatMessage, Client, Conversation, ResponseShapeError, SentMessage
from shopper_chat.client._parse import MessageCache, parse

TUTORIAL_CONVERSATION = {
    "chat_messages": [
        {
            "id": 123, "order_id": 123456, "created_at": "2021-07-09T17:24:12Z",
            "recipient_id": "", "recipient_type": "", "sender_id": "", "sender_type": "",
            "read": False, "read_at": "2021-07-09T17:24:12Z",
            "body": "Hi, this is Zelma, your shopper. I'm just getting started on your shopping "
                    "list.",
            "image": "",
        }
    ],
    "metadata": {
        "customer": {"id": 789012, "display_name": "Sierra"},
        "shoppers": [{"id": 23728249, "display_name": "Zelma", "avatar_url": "http://example.com"}],
    },
}


def message(**changes: Any) -> dict[str, Any]:
    base = dict(TUTORIAL_CONVERSATION["chat_messages"][0])  # type: ignore[index]
    base.update(changes)
    return base


def test_the_tutorials_example_conversation_parses() -> None:
    conversation = parse(Conversation, TUTORIAL_CONVERSATION)
    (greeting,) = conversation.chat_messages
    assert greeting.id == 123 and greeting.order_id == 123456
    assert greeting.created_at == datetime(2021, 7, 9, 17, 24, 12, tzinfo=timezone.utc)
    assert greeting.sender_type == "" and not greeting.from_shopper and not greeting.from_customer
    assert greeting.read is False and greeting.image == ""
    assert conversation.metadata.customer is not None
    assert conversation.metadata.customer.display_name == "Sierra"
    assert conversation.metadata.shoppers[0].display_name == "Zelma"
    assert conversation.is_expired is False
    assert conversation.shopper_name == "Zelma" and conversation.customer_name == "Sierra"


def test_the_tutorials_send_answer_parses() -> None:
    sent = parse(SentMessage, {"id": 123, "type": "CHAT", "created_at": "2021-01-01T05:00:00Z",
                                 "timezone": "Timezone"})
    assert sent.id == 123 and sent.type == "CHAT" and sent.timezone == "Timezone"
    assert sent.created_at.tzinfo is not None and not sent.recovered


def test_is_expired_and_empty_read_at() -> None:
    data = {"chat_messages": [message(read_at=None, sender_type="driver")],
            "metadata": {"customer": None, "shoppers": [], "is_expired": True}}
    conversation = parse(Conversation, data)
    assert conversation.is_expired
    assert conversation.chat_messages[0].read_at is None
    assert conversation.chat_messages[0].from_shopper


@pytest.mark.parametrize(
    ("mutate", "field", "problem"),
    [
        (lambda d: d["chat_messages"].__setitem__(0, message(created_at=42)),
         "chat_messages[0].created_at", "expected an ISO 8601 string, got 42"),
        (lambda d: d["chat_messages"].__setitem__(0, message(created_at="yesterday")),
         "chat_messages[0].created_at", "expected an ISO 8601 string, got 'yesterday'"),
        (lambda d: d["chat_messages"].__setitem__(0, message(sender_type="robot")),
         "chat_messages[0].sender_type", "expected one of 'user', 'driver', '', got 'robot'"),
        (lambda d: d["chat_messages"].__setitem__(0, message(read="no")),
         "chat_messages[0].read", "expected true or false, got 'no'"),
        (lambda d: d["chat_messages"][0].pop("id"), "chat_messages[0].id", "missing"),
        (lambda d: d.__setitem__("chat_messages", {}), "chat_messages",
         "expected a list, got {}"),
        (lambda d: d["metadata"].__setitem__("shoppers", [7]), "metadata.shoppers[0]",
         "expected an object, got 7"),
    ],
)
def test_a_wrong_shape_names_the_field(
    mutate: Callable[[dict[str, Any]], None], field: str, problem: str
) -> None:
    data = json.loads(json.dumps(TUTORIAL_CONVERSATION))
    mutate(data)
    with pytest.raises(ResponseShapeError) as caught:
        parse(Conversation, data)
    assert caught.value.field == field
    assert str(caught.value) == f"{field}: {problem}"


def test_the_field_path_counts_messages() -> None:
    data = json.loads(json.dumps(TUTORIAL_CONVERSATION))
    data["chat_messages"] = [message(id=1), message(id=2), message(id=3, created_at=42)]
    with pytest.raises(ResponseShapeError,
                       match=r"^chat_messages\[2\]\.created_at: expected an ISO 8601 string, "
                             r"got 42$"):
        parse(Conversation, data)


def answering(payload: Any, status: int = 200) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/oauth/token":
            return httpx.Response(200, json={"access_token": "t0ken-abc", "token_type": "Bearer",
                                             "expires_in": 86400, "scope": "", "created_at": 0})
        if isinstance(payload, bytes):
            return httpx.Response(status, content=payload)
        return httpx.Response(status, json=payload)

    return httpx.MockTransport(handler)


def test_a_malformed_answer_through_the_client_names_field_and_request() -> None:
    data = json.loads(json.dumps(TUTORIAL_CONVERSATION))
    data["chat_messages"][0]["created_at"] = 42
    with Client("http://connect.test", client_id="id", client_secret="secret",
                transport=answering(data)) as client, pytest.raises(ResponseShapeError) as caught:
        client.chat.messages("order-1")
    error = caught.value
    assert error.field == "chat_messages[0].created_at"
    assert error.method == "GET" and error.path == "/v2/post_checkout/chat/order-1/messages"
    assert "expected an ISO 8601 string, got 42" in str(error)


@pytest.mark.parametrize(
    ("payload", "call", "field"),
    [
        (b"<html>oops</html>", lambda c: c.chat.messages("o-1"), "(response)"),
        ([1, 2], lambda c: c.chat.messages("o-1"), "(response)"),
        ({"id": "seven", "type": "CHAT", "created_at": "2021-01-01T05:00:00Z"},
         lambda c: c.chat.send("o-1", "hi"), "id"),
        ({"messages_read_count": "1"}, lambda c: c.chat.mark_read("o-1"), "messages_read_count"),
        ({"id": 5, "workflow_state": "dancing"}, lambda c: c.sandbox.advance(5, "picking"),
         "workflow_state"),
        ({"id": "o-1", "workflow_state": None}, lambda c: c.orders.get("o-1"), "workflow_state"),
        ({"service_options": [{"id": "x"}]},
         lambda c: c.fulfillment.delivery_options(
             "u", {"address_line_1": "1 A St", "postal_code": "94105"},
             [{"line_num": "1", "count": 1, "item": {"upc": "1"}}]),
         "service_options[0].id"),
    ],
)
def test_every_resource_raises_response_shape_error_not_attribute_error(
    payload: Any, call: Callable[[Client], Any], field: str
) -> None:
    # The send checks the conversation first (a baseline): answer that one well-formed.
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/oauth/token":
            return httpx.Response(200, json={"access_token": "t0ken-abc", "expires_in": 60})
        if request.method == "GET" and request.url.path.endswith("/messages") and \
                isinstance(payload, dict) and "type" in payload:
            return httpx.Response(200, json={"chat_messages": [], "metadata": {}})
        if isinstance(payload, bytes):
            return httpx.Response(200, content=payload)
        return httpx.Response(200, json=payload)

    with Client("http://connect.test", client_id="id", client_secret="secret",
                transport=httpx.MockTransport(handler)) as client, \
            pytest.raises(ResponseShapeError) as caught:
        call(client)
    assert caught.value.field == field


def test_message_properties() -> None:
    customer = parse(ChatMessage, message(sender_type="user", recipient_type="driver"))
    assert customer.from_customer and not customer.from_shopper


def test_a_message_cache_parses_each_message_once_and_again_when_its_read_state_moves() -> None:
    known = MessageCache()
    first = known.conversation(TUTORIAL_CONVERSATION)
    again = known.conversation(json.loads(json.dumps(TUTORIAL_CONVERSATION)))
    assert again.chat_messages[0] is first.chat_messages[0]
    assert again == parse(Conversation, TUTORIAL_CONVERSATION)  # same result as without

    read = json.loads(json.dumps(TUTORIAL_CONVERSATION))
    read["chat_messages"][0].update(read=True, read_at="2021-07-09T17:30:00Z")
    moved = known.conversation(read).chat_messages[0]
    assert moved is not first.chat_messages[0]
    assert moved.read and moved.read_at == datetime(2021, 7, 9, 17, 30, tzinfo=timezone.utc)

    broken = json.loads(json.dumps(TUTORIAL_CONVERSATION))
    broken["chat_messages"].append({**broken["chat_messages"][0], "id": 124, "created_at": 42})
    with pytest.raises(ResponseShapeError, match=r"chat_messages\[1\]\.created_at"):
        known.conversation(broken)


def test_null_where_the_contract_has_empty_text_is_read_as_empty() -> None:
    # What a real server plausibly sends: null for no text, no image, no sender.
    nulls = message(body=None, image=None, sender_id=None, recipient_id=None, sender_type=None,
                    recipient_type=None)
    read = parse(ChatMessage, nulls)
    assert (read.body, read.image, read.sender_id, read.recipient_id) == ("", "", "", "")
    assert (read.sender_type, read.recipient_type) == ("", "")
    conversation = parse(Conversation, {
        "chat_messages": [nulls],
        "metadata": {"customer": {"id": None, "display_name": None},
                     "shoppers": [{"id": 1, "display_name": None, "avatar_url": None}]},
    })
    assert conversation.customer_name == "" and conversation.shopper_name == ""
    sent = parse(SentMessage, {"id": 1, "created_at": "2021-01-01T05:00:00Z", "timezone": None})
    assert sent.timezone == ""
    # Null is still refused where the contract has no empty value.
    with pytest.raises(ResponseShapeError, match=r"^chat_messages\[0\]\.id: "):
        parse(Conversation, {"chat_messages": [message(id=None)]})


def test_the_answers_schema_still_says_what_the_development_server_writes() -> None:
    # Reading tolerantly must not widen the OpenAPI document of the server's answers.
    written = ChatMessage.model_json_schema(mode="serialization")["properties"]
    assert written["body"]["type"] == "string" and written["image"]["type"] == "string"
    assert written["sender_type"]["enum"] == ["user", "driver"]
    assert written["sender_id"]["minLength"] == 1
    assert ChatMessage.model_json_schema(mode="validation")["properties"]["body"]["type"] == [
        "string", "null"]
