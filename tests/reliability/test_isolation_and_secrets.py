"""One customer cannot reach another's chat; expired tokens are refused; and nothing a session
writes (log lines at DEBUG, the client's recording, transcripts, error messages) holds the client
secret or an access token it used."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from shopper_chat import ChatPoller, Client, transcripts, tutorial
from shopper_chat.client.errors import AuthenticationError, ConnectError, NotFoundError
from shopper_chat.devserver import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

NOT_FOUND = {"error": {"message": "Resource not found", "code": 4000}, "meta": {}}
IMAGE = "https://example.com/images/green-bananas.jpg"


def _token(base_url: str, user_id: str | None = None) -> str:
    body: dict[str, Any] = {"client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET}
    if user_id is None:
        body.update(grant_type="client_credentials", scope="connect:fulfillment")
    else:
        assertion = base64.b64encode(json.dumps({"user_id": user_id}).encode()).decode()
        body.update(grant_type="fulfillment_user_assertion", scope="connect:post_checkout",
                    assertion=assertion)
    answer = httpx.post(f"{base_url}/v2/oauth/token", json=body, timeout=5)
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _two_customers(client: Client) -> dict[str, Any]:
    ids: dict[str, Any] = {}
    for who in ("a", "b"):
        tutorial.create_order(client, user_id=f"customer-{who}", order_id=f"order-{who}")
        shopping = tutorial.start_shopping(client, f"order-{who}", f"customer-{who}")
        ids[f"batch-{who}"], ids[f"shopper-{who}"] = shopping.batch_id, shopping.shopper_id
    return ids


def test_one_customers_token_cannot_read_send_to_or_mark_anothers_chat(
    devserver: str, client: Client
) -> None:
    ids = _two_customers(client)
    mine, theirs = _token(devserver, "customer-a"), _token(devserver, "customer-b")
    chat_a = f"{devserver}/v2/post_checkout/chat/order-a/messages"
    httpx.post(chat_a, json={"body": "only for my shopper"}, headers=_bearer(mine),
               timeout=5).raise_for_status()
    before = httpx.get(chat_a, headers=_bearer(mine), timeout=5).json()
    assert len(before["chat_messages"]) >= 2  # the greeting and mine
    internal = httpx.get(f"{devserver}/_emulator/orders/order-a", timeout=5).json()["internal_id"]

    attempts = [
        ("GET", chat_a, None, {}),
        ("POST", chat_a, {"body": "hello from b"}, {}),
        ("POST", chat_a, {"image_url": IMAGE}, {}),
        ("PUT", chat_a, None, {}),
        ("GET", f"{devserver}/v2/post_checkout/orders/order-a", None, {}),
        ("GET", f"{devserver}/v2/post_checkout/chat/{internal}/messages", None,
         {"X-Treat-Ids-As-Internal": "true"}),
        ("PUT", f"{devserver}/v2/post_checkout/chat/{internal}/messages", None,
         {"X-Treat-Ids-As-Internal": "true"}),
        ("POST", f"{devserver}/v2/fulfillment_sandbox/batches/{ids['batch-a']}/advance",
         {"workflow_state": "checkout"}, {}),
        ("POST", f"{devserver}/v2/fulfillment_sandbox/orders/order-a/callbacks",
         {"event_name": "canceled"}, {}),
        ("POST", f"{devserver}/v2/fulfillment_sandbox/shoppers/{ids['shopper-a']}/orders/order-a"
         "/items", {"line_num": "9", "count": 1, "item": {"upc": "000000004011"}}, {}),
        ("PUT", f"{devserver}/v2/fulfillment_sandbox/shoppers/{ids['shopper-a']}/orders/order-a"
         "/items/1", {"status": "not_found"}, {}),
    ]
    for method, url, body, headers in attempts:
        answer = httpx.request(method, url, json=body, headers={**_bearer(theirs), **headers},
                               timeout=5)
        assert (answer.status_code, answer.json()) == (404, NOT_FOUND), (method, url)

    # A customer's token never reaches the retailer's Fulfillment API at all.
    for method, url in (("GET", f"{devserver}/v2/fulfillment/users/customer-a/orders/order-a"),
                        ("POST", f"{devserver}/v2/fulfillment/users")):
        answer = httpx.request(method, url, json={"user_id": "customer-a", "first_name": "B"}
                               if method == "POST" else None, headers=_bearer(theirs), timeout=5)
        assert answer.status_code == 403, (method, url, answer.text)
    debug = httpx.get(f"{devserver}/_emulator/orders/order-a", timeout=5).json()
    assert debug["workflow_state"] == "picking" and debug["canceled_at"] is None
    assert [i["line_num"] for i in debug["items"]] == ["1", "2", "3"]
    assert all("status" not in i for i in debug["items"])
    after = httpx.get(chat_a, headers=_bearer(mine), timeout=5).json()
    assert after == before  # nothing sent, nothing marked read, nothing moved
    status = httpx.get(f"{devserver}/v2/post_checkout/orders/order-a", headers=_bearer(mine),
                       timeout=5).json()
    assert status["workflow_state"] == "picking"

    client.set_user("customer-b")  # the library says the same
    with pytest.raises(NotFoundError):
        client.chat.messages("order-a")
    with pytest.raises(NotFoundError):
        client.chat.send("order-a", "hello from b")
    with pytest.raises(NotFoundError):
        client.chat.mark_read("order-a")
    assert httpx.get(chat_a, headers=_bearer(mine), timeout=5).json() == before


def test_an_expired_token_is_refused_and_the_client_fetches_a_fresh_one(
    devserver: str, client: Client
) -> None:
    tutorial.create_order(client, user_id="customer-a", order_id="order-a")
    tutorial.start_shopping(client, "order-a", "customer-a")
    user_token, client_token = _token(devserver, "customer-a"), _token(devserver)
    chat = f"{devserver}/v2/post_checkout/chat/order-a/messages"
    user_url = f"{devserver}/v2/fulfillment/users/customer-a/orders/order-a"
    client.set_user("customer-a")
    client.chat.messages("order-a")  # the client caches its user token now

    def clock(**move: Any) -> None:
        httpx.post(f"{devserver}/_emulator/clock", json=move, timeout=5).raise_for_status()

    clock(advance_seconds=86399)
    assert httpx.get(chat, headers=_bearer(user_token), timeout=5).status_code == 200
    assert httpx.get(user_url, headers=_bearer(client_token), timeout=5).status_code == 200
    clock(advance_seconds=1)
    for url, token in ((chat, user_token), (user_url, client_token)):
        answer = httpx.get(url, headers=_bearer(token), timeout=5)
        assert answer.status_code == 401
        assert answer.json() == {"error": {"message": "Expired access token", "code": None},
                                 "meta": {}}
    # A client with credentials renews on the 401; one with a fixed token cannot.
    assert client.chat.messages("order-a").chat_messages
    with Client(devserver, user_token=user_token, timeout=5) as fixed, \
            pytest.raises(AuthenticationError):
        fixed.chat.messages("order-a")


class _TokenSniffer(httpx.HTTPTransport):
    """A real transport that also notes every access token the server hands out."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.url.path == "/v2/oauth/token":
            response.read()
            if response.status_code == 200:
                self.tokens.append(str(json.loads(response.content)["access_token"]))
        return response


def test_no_secret_or_token_in_logs_recordings_transcripts_or_errors(
    devserver: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sniffer = _TokenSniffer()
    recording = tmp_path / "session.jsonl"
    said: list[str] = []
    with Client(devserver, client_id=DEFAULT_CLIENT_ID, client_secret=DEFAULT_CLIENT_SECRET,
                timeout=5, record_to=recording, transport=sniffer, max_retry_seconds=3) as c:
        setup = tutorial.create_order(c, user_id="customer-a", order_id="order-a")
        tutorial.start_shopping(c, setup.order_id, setup.user_id)
        c.set_user(setup.user_id)
        # Some failures on the way, so that error paths are logged and recorded too.
        for rule in ({"method": "GET", "path": "/v2/post_checkout/chat/*", "status": 429,
                      "times": 1},
                     {"method": "POST", "path": "/v2/post_checkout/chat/*", "status": 503,
                      "times": 1}):
            httpx.post(f"{devserver}/_emulator/faults", json=rule, timeout=5).raise_for_status()
        c.chat.send(setup.order_id, "Could you pick ripe bananas, please?", IMAGE)
        c.chat.wait_for_messages(setup.order_id, timeout=10, interval=0.05)
        c.chat.mark_read(setup.order_id)
        poller = ChatPoller(c, setup.order_id, interval=0.01, timeout=5)
        events = [poller.poll_once(), poller.poll_once()]
        said += [repr(e) for batch in events for e in batch]
        for bad in ("order-nobody", "order-b"):
            try:
                c.chat.messages(bad)
            except ConnectError as exc:
                said += [str(exc), repr(exc)]
        conversation = c.chat.messages(setup.order_id)
        said += [repr(c), repr(conversation), str(conversation)]
        transcripts.write_transcripts(transcripts.to_frame(conversation), tmp_path / "out")
    with Client(devserver, client_id=DEFAULT_CLIENT_ID, client_secret="not-the-secret-123",
                record_to=tmp_path / "refused.jsonl", timeout=5) as wrong, \
            pytest.raises(AuthenticationError) as refused:
        wrong.fulfillment.create_user("customer-c", "Cy")
    said += [str(refused.value), repr(refused.value), repr(wrong)]

    assert len(sniffer.tokens) >= 2  # the retailer's token and the customer's
    needles = [DEFAULT_CLIENT_SECRET, "not-the-secret-123", *sniffer.tokens]
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) >= 20, "DEBUG logging captured too little to be a meaningful check"
    entries = [line for line in recording.read_text(encoding="utf-8").splitlines() if line]
    assert any('"/v2/oauth/token"' in line for line in entries)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) >= 6
    texts = {"log": "\n".join(lines) + caplog.text, "said": "\n".join(said)}
    texts.update({p.name: p.read_text(encoding="utf-8", errors="replace") for p in files})
    for where, text in texts.items():
        for needle in needles:
            assert needle not in text, f"a secret or token in {where}"
