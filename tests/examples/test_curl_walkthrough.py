"""examples/curl_walkthrough.sh against a real `shopper-chat serve` on a free loopback port."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from examples_support import ROOT, clean_env
from support import ServeProcess, free_port

SCRIPT = ROOT / "examples" / "curl_walkthrough.sh"
CLIENT_ID = "walkthrough-client"
CLIENT_SECRET = "walkthrough-secret-never-printed"


@pytest.fixture(scope="module", autouse=True)
def tools() -> None:
    missing = [tool for tool in ("bash", "curl", "jq") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"the curl walkthrough needs {' and '.join(missing)}: install it "
                    f"(`make test` does, on Debian as root).", pytrace=False)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """`shopper-chat serve` with credentials of its own (so the script must be given them)."""
    serving = ServeProcess(env={"CONNECT_CLIENT_ID": CLIENT_ID,
                                "CONNECT_CLIENT_SECRET": CLIENT_SECRET}).start()
    try:
        yield serving.base_url
    finally:
        serving.stop()


def walkthrough(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT)], env=clean_env(**env), capture_output=True,
                          text=True, timeout=60, cwd=ROOT)


def test_the_whole_tutorial_passes_and_the_customer_message_is_there(server: str) -> None:
    done = walkthrough(CONNECT_BASE_URL=server, CONNECT_CLIENT_ID=CLIENT_ID,
                       CONNECT_CLIENT_SECRET=CLIENT_SECRET, USER_ID="customer-curl",
                       ORDER_ID="order-curl")
    assert done.returncode == 0, done.stdout + done.stderr
    steps = [line[3:] for line in done.stdout.splitlines() if line.startswith("== ")]
    assert steps == [
        "retailer token (client_credentials)", "create the customer",
        "delivery slots for the cart", "hold the first slot", "create the delivery order",
        "user access token (fulfillment_user_assertion)", "create a shopper", "generate a batch",
        "advance the batch to picking", "retrieve the messages", "send a message to the shopper",
        "mark the messages read", "the conversation now",
    ]
    assert done.stderr == ""

    from shopper_chat import Client

    with Client(server, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, timeout=5) as client:
        client.set_user("customer-curl")
        conversation = client.chat.messages("order-curl")
        assert client.orders.get("order-curl").workflow_state == "picking"
    sent = [m for m in conversation.chat_messages if m.sender_type == "user"]
    assert [(m.body, m.image) for m in sent] == [
        ("Hi, this is Sierra. Ripe bananas, please.", "https://example.com/ripe-bananas.jpg")
    ]
    greeting = [m for m in conversation.chat_messages if m.sender_type == "driver"][0]
    assert greeting.read, "the shopper's greeting was marked read"


def test_it_never_shows_a_secret_or_a_token(server: str) -> None:
    done = walkthrough(CONNECT_BASE_URL=server, CONNECT_CLIENT_ID=CLIENT_ID,
                       CONNECT_CLIENT_SECRET=CLIENT_SECRET)
    assert done.returncode == 0, done.stdout + done.stderr
    shown = done.stdout + done.stderr
    assert CLIENT_SECRET not in shown
    assert "Authorization" not in shown and "Bearer " not in shown
    assert shown.count('"access_token":') == shown.count('"access_token":"[hidden]"') == 2
    assert '"assertion":"[hidden]"' in shown and '"password":"[hidden]"' in shown


def test_without_credentials_it_uses_the_local_ones() -> None:
    from shopper_chat.devserver import serve

    with serve(seed=7) as base_url:
        done = walkthrough(CONNECT_BASE_URL=base_url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "client id shopper-chat-local" in done.stdout


def test_the_first_failure_stops_it_with_one_line(server: str) -> None:
    done = walkthrough(CONNECT_BASE_URL=server, CONNECT_CLIENT_ID=CLIENT_ID,
                       CONNECT_CLIENT_SECRET="not-the-secret")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        'curl_walkthrough.sh: step "retailer token (client_credentials)" failed: POST '
        '/v2/oauth/token answered 401 {"error":{"message":"Invalid client credentials",'
        '"code":null},"meta":{}}'
    ]
    assert "not-the-secret" not in done.stdout + done.stderr
    assert "create the customer" not in done.stdout


def test_no_server_no_answer() -> None:
    done = walkthrough(CONNECT_BASE_URL=f"http://127.0.0.1:{free_port()}")
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert "no answer from http://127.0.0.1:" in line and "(is the server running?)" in line


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CONNECT_CLIENT_ID": "x"}, "CONNECT_CLIENT_ID is set but CONNECT_CLIENT_SECRET is not"),
        ({"CONNECT_CLIENT_SECRET": "x"}, "CONNECT_CLIENT_SECRET is set but CONNECT_CLIENT_ID is"),
        ({"CONNECT_BASE_URL": "localhost:8765"}, "CONNECT_BASE_URL must be an http(s) URL"),
    ],
)
def test_bad_settings_exit_2_before_any_request(env: dict[str, str], message: str) -> None:
    done = walkthrough(**env)
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.splitlines()) == 1
    assert done.stdout == ""


def test_it_is_executable() -> None:
    assert os.access(SCRIPT, os.X_OK)
