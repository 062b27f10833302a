"""One verdict on a chat message, wherever it is checked: the client's `check_message` (what
`client.chat.send` calls), the chat panel's model, and the development server (a real request).

Each verdict is the list of fields refused, in order, with the API's words for each."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from client_support import Shopped
from shopper_chat import Client, InvalidRequestError, check_message
from shopper_chat.panel import ChatModel

CASES = [
    ("hi", "HTTPS://example.com/a.png", ["image_url"]),
    ("hi", "http://", ["image_url"]),
    ("hi", "https://a b", ["image_url"]),
    ("hi", "https://example.com/a.png", []),
    ("x" * 1000, "", []),
    ("x" * 1001, "", ["body"]),
    ("", "", ["body"]),
    ("x" * 1001, "ftp://example.com/a.png", ["body", "image_url"]),
]
IDS = ["upper-case-scheme", "no-host", "space", "image", "1000", "1001", "empty",
       "1001-and-bad-image"]


def client_verdict(body: str, image_url: str) -> list[tuple[str, str]]:
    try:
        check_message(body, image_url)
    except InvalidRequestError as exc:
        return [(p.key, p.message) for p in exc.problems]
    return []


@pytest.fixture()
def panel() -> Iterator[ChatModel]:
    # Nothing listens on the discard port: checking a message makes no request.
    with Client("http://127.0.0.1:9", client_id="x", client_secret="y", max_retries=0) as offline:
        model = ChatModel(offline, "order-1")
        yield model
        model.close()


@pytest.mark.parametrize(("body", "image_url", "refused"), CASES, ids=IDS)
def test_the_client_and_the_panel_give_the_same_verdict(
    panel: ChatModel, body: str, image_url: str, refused: list[str]
) -> None:
    verdict = client_verdict(body, image_url)
    assert [key for key, _ in verdict] == refused
    try:
        panel.validate(body, image_url)
    except InvalidRequestError as exc:
        assert [(p.key, p.message) for p in exc.problems] == verdict
        assert exc.param == refused[0]
    else:
        assert verdict == []


def test_several_problems_are_all_listed_and_the_first_is_the_param() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        check_message("x" * 1001, "ftp://example.com/a.png")
    error = caught.value
    assert error.param == "body"
    assert [str(p) for p in error.problems] == [
        "body is too long (maximum is 1000 characters)", "image_url is invalid"]
    assert "is too long" in str(error) and "image_url is invalid" in str(error)


@pytest.mark.parametrize(("body", "image_url", "refused"), CASES, ids=IDS)
def test_the_development_server_agrees(
    devserver: str, client: Client, shopped: Shopped, body: str, image_url: str,
    refused: list[str],
) -> None:
    token = client._tokens.user_token(shopped.user_id).get_secret_value()
    answer = httpx.post(f"{devserver}/v2/post_checkout/chat/{shopped.order_id}/messages",
                        json={"body": body, "image_url": image_url},
                        headers={"Authorization": f"Bearer {token}"}, timeout=5)
    verdict = client_verdict(body, image_url)
    if not refused:
        assert answer.status_code == 200, answer.text
        return
    assert answer.status_code == 400
    envelope = answer.json()
    listed = envelope["error"].get("errors") or [envelope]
    server = [(e["meta"]["key"], e["error"]["message"]) for e in listed]
    # The same problems in the same words and order: one as 1001, several listed under 9999.
    assert server == verdict
    assert envelope["error"]["code"] == (9999 if len(verdict) > 1 else 1001)
