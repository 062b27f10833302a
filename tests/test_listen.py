"""`shopper_chat.listen`: the receiver (token URL, events URL, dedupe, waiting, forwarding, JSON
Lines), `format_event`, and `shopper-chat listen`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from shopper_chat import cli
from shopper_chat._secret import Secret
from shopper_chat.contract import ChatMessageCreated, Event, FulfillmentEvent, parse_event
from shopper_chat.devserver.callbacks import CallbackConfig, CallbackEngine, RetryPolicy
from shopper_chat.listen import (
    EventTimeout,
    ForwardResult,
    Receiver,
    RegistrationError,
    event_filter,
    format_event,
)

SECRET = "listener-test-secret"
WHEN = "2026-01-15T17:00:00Z"


def envelope(event_id: int, name: str = "fulfillment.picking", **metadata: Any) -> dict[str, Any]:
    if not metadata:
        metadata = {"topic_id": "101"} if name == "chat_message_created" else {"order_id": "o-1"}
    return {"event_id": event_id, "event_name": name, "event_timestamp": WHEN,
            "event_metadata": metadata}


class Sender:
    """Talks to a receiver the way Instacart does: form-POST for a token, then JSON events."""

    def __init__(self, receiver: Receiver | None = None, secret: str = SECRET, *,
                 base_url: str = "", client_id: str = "shopper-chat-listener") -> None:
        self.token_url = receiver.token_url if receiver else f"{base_url}/oauth/token"
        self.events_url = receiver.events_url if receiver else f"{base_url}/events"
        self.client_id = receiver.client_id if receiver else client_id
        self.http = httpx.Client(timeout=5, trust_env=False)
        self.secret = secret
        self.token = ""

    def fetch_token(self) -> httpx.Response:
        answer = self.http.post(self.token_url, data={
            "client_id": self.client_id, "client_secret": self.secret,
            "grant_type": "client_credentials"})
        if answer.status_code == 200:
            self.token = answer.json()["access_token"]
        return answer

    def send(self, data: Any, token: str | None = None) -> httpx.Response:
        if not self.token and token is None:
            self.fetch_token()
        return self.http.post(self.events_url, json=data,
                              headers={"Authorization": f"Bearer {token or self.token}"})


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    with Receiver(client_secret=SECRET) as running:
        yield running


@pytest.fixture()
def sender(receiver: Receiver) -> Iterator[Sender]:
    talking = Sender(receiver)
    yield talking
    talking.http.close()


# -- format_event ----------------------------------------------------------------------------------
def test_format_event_is_one_line_per_event() -> None:
    assert format_event(parse_event(envelope(12))) == (
        "2026-01-15T17:00:00Z  fulfillment.picking        order_id=o-1  (event 12)")
    assert format_event(parse_event(envelope(4, "chat_message_created"))) == (
        "2026-01-15T17:00:00Z  chat_message_created       topic_id=101  (event 4)")
    unknown = parse_event({"event_id": 5, "event_name": "fulfillment.tip_adjustment",
                           "event_timestamp": WHEN, "event_metadata": {}})
    assert format_event(unknown) == "2026-01-15T17:00:00Z  fulfillment.tip_adjustment  (event 5)"


def test_format_event_shows_no_control_characters_and_cuts_long_values() -> None:
    event = parse_event(envelope(1, order_id="a\nb\x1b[31m", note={"x": [1, 2]},
                                 long="y" * 200))
    line = format_event(event)
    assert "\n" not in line and "\x1b" not in line
    assert "order_id=a\\x0ab\\x1b[31m" in line
    assert 'note={"x": [1, 2]}' in line
    assert "long=" + "y" * 77 + "..." in line


def test_event_filter_takes_names_and_patterns_and_refuses_typos() -> None:
    assert event_filter(["fulfillment.*", " chat_message_created "]) == (
        "fulfillment.*", "chat_message_created")
    with pytest.raises(ValueError, match="unknown event name 'fulfilment.picking'"):
        event_filter(["fulfilment.picking"])
    with pytest.raises(ValueError, match="must not be empty"):
        event_filter([""])


# -- the token URL ---------------------------------------------------------------------------------
def test_the_token_url_issues_a_bearer_token_for_the_right_credentials(
        receiver: Receiver, sender: Sender) -> None:
    answer = sender.fetch_token()
    assert answer.status_code == 200
    data = answer.json()
    assert data["token_type"] == "Bearer" and data["expires_in"] == 3600
    assert len(data["access_token"]) > 20
    assert receiver.client_id == "shopper-chat-listener"


@pytest.mark.parametrize(("form", "status", "error"), [
    ({"client_id": "shopper-chat-listener", "client_secret": "wrong",
      "grant_type": "client_credentials"}, 401, "invalid_client"),
    ({"client_id": "someone-else", "client_secret": SECRET,
      "grant_type": "client_credentials"}, 401, "invalid_client"),
    ({"client_id": "shopper-chat-listener", "client_secret": SECRET,
      "grant_type": "password"}, 400, "unsupported_grant_type"),
])
def test_the_token_url_refuses_other_credentials(receiver: Receiver, form: dict[str, str],
                                                 status: int, error: str) -> None:
    answer = httpx.post(receiver.token_url, data=form, trust_env=False)
    assert (answer.status_code, answer.json()["error"]) == (status, error)


def test_the_token_url_takes_only_a_form(receiver: Receiver) -> None:
    answer = httpx.post(receiver.token_url, trust_env=False, json={
        "client_id": receiver.client_id, "client_secret": SECRET,
        "grant_type": "client_credentials"})
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_request")


# -- the events URL --------------------------------------------------------------------------------
def test_the_events_url_takes_events_only_with_a_token_it_issued(
        receiver: Receiver, sender: Sender) -> None:
    no_token = httpx.post(receiver.events_url, json=envelope(1), trust_env=False)
    assert no_token.status_code == 401
    assert no_token.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert sender.send(envelope(1), token="made-up").status_code == 401
    assert receiver.events == []
    assert sender.send(envelope(1)).status_code == 200
    assert [e.event_id for e in receiver.events] == [1]


def test_an_expired_token_is_refused() -> None:
    with Receiver(client_secret=SECRET, token_lifetime=0) as receiver:
        sender = Sender(receiver)
        assert sender.fetch_token().json()["expires_in"] == 0
        assert sender.send(envelope(1)).status_code == 401


@pytest.mark.parametrize("body", [
    [1, 2], {"event_name": "fulfillment.picking"}, envelope(1, order_id=7),
    {**envelope(1), "event_timestamp": "yesterday"}, {**envelope(1), "event_id": "1"},
])
def test_a_body_that_is_not_an_event_is_refused(receiver: Receiver, sender: Sender,
                                                body: Any) -> None:
    answer = sender.send(body)
    assert answer.status_code == 400
    assert receiver.events == []


def test_a_repeated_event_id_is_answered_200_and_kept_once(receiver: Receiver,
                                                           sender: Sender) -> None:
    for _ in range(3):
        assert sender.send(envelope(9)).status_code == 200
    assert sender.send(envelope(10)).status_code == 200
    assert [e.event_id for e in receiver.events] == [9, 10]
    assert receiver.duplicates == 2


def test_the_events_filter_keeps_only_the_names_asked_for(sender: Sender) -> None:
    with Receiver(client_secret=SECRET, events=["fulfillment.*"]) as receiver:
        sender = Sender(receiver)
        assert sender.send(envelope(1, "chat_message_created")).status_code == 200
        assert sender.send(envelope(2, "fulfillment.checkout")).status_code == 200
        assert [e.event_name for e in receiver.events] == ["fulfillment.checkout"]
        with pytest.raises(ValueError, match="keeps only fulfillment"):
            receiver.wait_for_event("chat_message_created", timeout=0)


def test_events_are_typed(receiver: Receiver, sender: Sender) -> None:
    sender.send(envelope(1, "chat_message_created"))
    sender.send(envelope(2))
    chat, picking = receiver.events
    assert isinstance(chat, ChatMessageCreated) and chat.topic_id == "101"
    assert isinstance(picking, FulfillmentEvent) and picking.order_id == "o-1"
    assert picking.status == "picking"


# -- wait_for_event --------------------------------------------------------------------------------
def test_wait_for_event_hands_out_each_event_once_oldest_first(receiver: Receiver,
                                                                sender: Sender) -> None:
    sender.send(envelope(1, "chat_message_created"))
    sender.send(envelope(2, "chat_message_created"))
    assert receiver.wait_for_event("chat_message_created", timeout=0).event_id == 1
    assert receiver.wait_for_event("chat_message_created", timeout=0).event_id == 2
    with pytest.raises(EventTimeout, match=r"no new chat_message_created event within 0\.2 s "
                                           r"\(received: chat_message_created, chat_message_"):
        receiver.wait_for_event("chat_message_created", timeout=0.2)


def test_wait_for_event_waits_for_one_to_arrive(receiver: Receiver, sender: Sender) -> None:
    timer = threading.Timer(0.2, lambda: sender.send(envelope(3, "fulfillment.delivered")))
    timer.start()
    started = time.monotonic()
    event = receiver.wait_for_event("fulfillment.delivered", timeout=5)
    timer.join()
    assert event.event_id == 3 and time.monotonic() - started >= 0.15
    assert isinstance(EventTimeout("x"), TimeoutError)


# -- forwarding, JSON Lines, callbacks -------------------------------------------------------------
class App:
    """The user's own app that `forward_to` posts to."""

    def __init__(self, status: int = 200) -> None:
        self.bodies: list[tuple[str, bytes]] = []
        app = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                app.bodies.append((self.headers["Content-Type"], body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/instacart"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_forward_to_posts_each_kept_event_as_received(tmp_path: Path) -> None:
    app = App(status=500)
    results: list[ForwardResult] = []
    try:
        with Receiver(client_secret=SECRET, forward_to=app.url,
                      on_forward=results.append) as receiver:
            sender = Sender(receiver)
            sender.send(envelope(1))
            sender.send(envelope(1))  # a repeat is not forwarded again
            sender.send(envelope(2, "chat_message_created"))
    finally:
        app.close()
    assert [json.loads(body)["event_id"] for _, body in app.bodies] == [1, 2]
    # The bytes as the sender wrote them (httpx: compact JSON), not re-encoded.
    assert app.bodies[0] == ("application/json",
                             json.dumps(envelope(1), separators=(",", ":")).encode())
    assert [(r.event.event_id, r.status, r.ok) for r in results] == [(1, 500, False),
                                                                     (2, 500, False)]


def test_a_forward_to_nowhere_is_reported_not_raised() -> None:
    results: list[ForwardResult] = []
    with Receiver(client_secret=SECRET, forward_to="http://127.0.0.1:9/nothing",
                  on_forward=results.append) as receiver:
        assert Sender(receiver).send(envelope(1)).status_code == 200
    assert [(r.status, r.error) for r in results] == [(None, "could not connect")]


def test_jsonl_appends_each_kept_event(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    with Receiver(client_secret=SECRET, jsonl=path) as receiver:
        sender = Sender(receiver)
        sender.send(envelope(1))
        sender.send(envelope(1))
        sender.send(envelope(2, "chat_message_created"))
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [envelope(1),
                                                    envelope(2, "chat_message_created")]


def test_a_failing_on_event_still_answers_200(caplog: pytest.LogCaptureFixture) -> None:
    def explode(event: Event) -> None:
        raise RuntimeError("boom")

    with Receiver(client_secret=SECRET, on_event=explode) as receiver:
        assert Sender(receiver).send(envelope(1)).status_code == 200
    assert "on_event failed" in caplog.text


def test_the_secret_comes_from_the_environment_or_is_made(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNECT_CALLBACK_CLIENT_ID", "env-id")
    monkeypatch.setenv("CONNECT_CALLBACK_CLIENT_SECRET", "env-secret")
    from_env = Receiver()
    assert (from_env.client_id, from_env.client_secret, from_env.secret_generated) == (
        "env-id", Secret("env-secret"), False)
    monkeypatch.delenv("CONNECT_CALLBACK_CLIENT_ID")
    monkeypatch.delenv("CONNECT_CALLBACK_CLIENT_SECRET")
    made = Receiver()
    assert made.secret_generated and made.client_secret != Receiver().client_secret
    assert "env-secret" not in repr(vars(from_env))


# -- the engine and the receiver together ----------------------------------------------------------
def test_the_development_servers_engine_delivers_to_the_receiver(receiver: Receiver) -> None:
    policy = RetryPolicy(first_delay=0.05, timeout=2)
    with CallbackEngine(CallbackConfig(receiver.events_url, receiver.token_url,
                                       receiver.client_id, receiver.client_secret),
                        policy=policy) as engine:  # fmt: skip
        engine.publish(parse_event(envelope(1, "chat_message_created")))
        engine.publish(parse_event(envelope(2)))
        assert receiver.wait_for_event("fulfillment.picking", timeout=5).event_id == 2
        assert engine.flush(5)
    assert [format_event(e) for e in receiver.events] == [
        "2026-01-15T17:00:00Z  chat_message_created       topic_id=101  (event 1)",
        "2026-01-15T17:00:00Z  fulfillment.picking        order_id=o-1  (event 2)",
    ]


# -- register --------------------------------------------------------------------------------------
class ControlPlane:
    """A stand-in for the development server's `/_emulator/callbacks`."""

    def __init__(self, status: int = 200, body: Any = None) -> None:
        self.requests: list[tuple[str, Any]] = []
        self.current: Any = None
        plane = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, code: int, data: Any) -> None:
                payload = json.dumps(data).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_PUT(self) -> None:
                data = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                plane.requests.append(("PUT", data))
                if status == 200:
                    plane.current = {**data, "client_secret": "**********"}
                self._reply(status, body if body is not None else plane.current)

            def do_GET(self) -> None:
                plane.requests.append(("GET", None))
                self._reply(200, plane.current or {"url": None})

            def do_DELETE(self) -> None:
                plane.requests.append(("DELETE", None))
                plane.current = None
                self._reply(200, {"url": None})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_register_puts_the_receivers_urls_and_credentials() -> None:
    plane = ControlPlane()
    try:
        with Receiver(client_secret=SECRET, events=["fulfillment.deliver*"]) as receiver:
            answer = receiver.register(plane.url + "/")
            receiver.unregister(plane.url)
    finally:
        plane.close()
    method, body = plane.requests[0]
    assert method == "PUT"
    assert body == {"url": receiver.events_url, "token_url": receiver.token_url,
                    "client_id": "shopper-chat-listener", "client_secret": SECRET,
                    "events": ["fulfillment.delivering", "fulfillment.delivered"]}
    assert answer["client_secret"] == "**********"
    assert [m for m, _ in plane.requests] == ["PUT", "GET", "DELETE"]


@pytest.mark.parametrize(("status", "body", "message"), [
    (404, {"error": {"message": "Resource not found", "code": 4000}, "meta": {}},
     r"does not take callback settings \(PUT /_emulator/callbacks answered 404\)"),
    (400, {"error": {"message": "is invalid", "code": 1001}, "meta": {"key": "url"}},
     r"refused the callback settings \(400: url is invalid\)"),
])
def test_register_explains_a_refusal_in_a_sentence(status: int, body: Any, message: str) -> None:
    plane = ControlPlane(status, body)
    try:
        with Receiver(client_secret=SECRET) as receiver, \
                pytest.raises(RegistrationError, match=message) as refused:
            receiver.register(plane.url)
    finally:
        plane.close()
    assert SECRET not in str(refused.value)


def test_register_with_no_server_there_says_so() -> None:
    with Receiver(client_secret=SECRET) as receiver, pytest.raises(
            RegistrationError, match="cannot reach a development server at http://127.0.0.1:9"):
        receiver.register("http://127.0.0.1:9")


# -- shopper-chat listen ---------------------------------------------------------------------------
@pytest.mark.parametrize(("argv", "message"), [
    (["--events", "fulfilment.picking"], "argument --events: unknown event name"),
    (["--forward-to", "localhost:3000"], "argument --forward-to: not an http(s) URL"),
    (["--register", "8765"], "argument --register: not an http(s) URL"),
    (["--port", "99999"], "argument --port: a port is 0 to 65535"),
])
def test_bad_options_exit_2_with_one_sentence(argv: list[str], message: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["listen", *argv])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("shopper-chat listen: ") and message in err
    assert err.count("\n") == 1


def test_an_unwritable_jsonl_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["listen", "--port", "0", "--jsonl", str(tmp_path / "no" / "x.jsonl")]) == 2
    assert capsys.readouterr().err == (
        f"shopper-chat listen: cannot write to {tmp_path / 'no' / 'x.jsonl'}\n")


def test_a_register_that_fails_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["listen", "--port", "0", "--register", "http://127.0.0.1:9"]) == 2
    assert capsys.readouterr().err == (
        "shopper-chat listen: cannot reach a development server at http://127.0.0.1:9\n")


def test_the_command_prints_one_line_per_event_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "CONNECT_CALLBACK_CLIENT_SECRET": SECRET, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "shopper_chat.cli", "listen", "--port", "0",
         "--jsonl", str(tmp_path / "e.jsonl")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert banner.startswith("shopper-chat listener on http://127.0.0.1:")
        base = banner.split()[3]
        sender = Sender(base_url=base)
        assert sender.send(envelope(5, "chat_message_created")).status_code == 200
        assert sender.send(envelope(6)).status_code == 200
        lines = [process.stdout.readline().rstrip("\n") for _ in range(2)]
        sender.http.close()
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0
    assert lines == [
        "2026-01-15T17:00:00Z  chat_message_created       topic_id=101  (event 5)",
        "2026-01-15T17:00:00Z  fulfillment.picking        order_id=o-1  (event 6)",
    ]
    assert SECRET not in banner + out + err
    assert len((tmp_path / "e.jsonl").read_text().splitlines()) == 2


def test_the_event_timestamp_is_read_as_utc() -> None:
    event = parse_event(envelope(1))
    assert event.event_timestamp == datetime(2026, 1, 15, 17, tzinfo=timezone.utc)


# -- end to end: serve, listen --register, run -----------------------------------------------------
CLI = Path(sys.executable).parent / "shopper-chat"


class Lines:
    """A process's stdout, read line by line in the background."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._stream = process.stdout
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """After the process ended: the rest of its output, then the pipe closed."""
        self._thread.join(10)
        if self._stream is not None:
            self._stream.close()

    def _read(self) -> None:
        assert self._stream is not None
        for line in self._stream:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if text in line:
                    return line
            time.sleep(0.05)
        pytest.fail(f"no line with {text!r} within {timeout:g} s: {self.lines}", pytrace=False)


def _stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def _close(process: subprocess.Popen[str] | None, lines: Lines | None) -> str:
    """Stop the process if it runs, close its pipes; its stderr."""
    if process is None:
        return ""
    if process.poll() is None:
        _stop(process)
    if lines is not None:
        lines.close()
    err = ""
    if process.stderr is not None:
        err = process.stderr.read()
        process.stderr.close()
    return err


def test_listen_register_prints_the_events_of_a_shopper_chat_run(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECT_")}
    env["PYTHONUNBUFFERED"] = "1"
    serve = subprocess.Popen([str(CLI), "serve", "--port", "0", "--seed", "7", "--clock",
                              "2026-01-15T17:00:00Z"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
    listen: subprocess.Popen[str] | None = None
    heard: Lines | None = None
    served = Lines(serve)
    try:
        base_url = served.wait_for("development server on").split()[4]
        listen = subprocess.Popen([str(CLI), "listen", "--port", "0", "--register", base_url],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=env)
        heard = Lines(listen)
        heard.wait_for(f"registered with {base_url}")
        run = subprocess.run([str(CLI), "run", "--base-url", base_url, "--out", str(tmp_path),
                              "--only", "01", "02", "03"], capture_output=True, text=True,
                             env=env, timeout=240)
        assert run.returncode == 0, run.stdout + run.stderr
        picking = heard.wait_for("fulfillment.picking")
        chat = heard.wait_for("chat_message_created")
        settings = httpx.get(f"{base_url}/_emulator/callbacks", timeout=5).json()
        assert settings["client_secret"] == "**********"
        assert _stop(listen) == 0
        after = httpx.get(f"{base_url}/_emulator/callbacks", timeout=5).json()
    finally:
        listen_err = _close(listen, heard)
        _close(serve, served)
    assert picking.startswith("2026-01-15T") and "order_id=order-" in picking
    assert "topic_id=" in chat
    assert after["url"] is None  # the listener turned delivery off as it stopped
    assert listen_err == ""
