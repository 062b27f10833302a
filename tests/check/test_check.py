"""`shopper-chat check`: the development server matches the contract on every route; a server
that deviates is reported difference by difference, with what the client makes of each; nothing
written holds a secret; bad options end with one sentence."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from check_support import (
    CLIENT_ID,
    CLIENT_SECRET,
    SECRETS,
    USER_TOKEN,
    DeviatingServer,
)
from shopper_chat import check, cli
from shopper_chat.client.recording import REDACTED, read_recording
from shopper_chat.devserver import DEFAULT_CLIENT_SECRET

CLI = [sys.executable, "-m", "shopper_chat.cli"]
README = Path(__file__).resolve().parents[2] / "README.md"
ROUTES_OF_THE_TUTORIAL = 13


@pytest.fixture()
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test server's credentials, exported as a user would."""
    monkeypatch.setenv("CONNECT_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("CONNECT_CLIENT_SECRET", CLIENT_SECRET)


@pytest.fixture()
def deviating() -> Iterator[tuple[DeviatingServer, str]]:
    server = DeviatingServer()
    with server.serve() as url:
        yield server, url


def run_cli(argv: list[str]) -> int:
    """`shopper-chat ...` in this process: its exit status (argparse exits on bad flags)."""
    try:
        return cli.main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def written(out: Path, printed: str = "") -> str:
    """Everything the check wrote or printed, as one text."""
    return printed + "".join(p.read_text(encoding="utf-8") for p in sorted(out.iterdir()))


def differences(out: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """check.json's differences by (step, field)."""
    report = json.loads((out / "check.json").read_text(encoding="utf-8"))
    return {(e["step"], d["field"]): d for e in report["exchanges"] for d in e["differences"]}


def test_the_embedded_development_server_matches_on_every_route(tmp_path: Path) -> None:
    out = tmp_path / "report"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECT_")}
    result = subprocess.run([*CLI, "check", "--create", "--out", str(out)], capture_output=True,
                            text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((out / "check.json").read_text(encoding="utf-8"))
    assert report["mode"] == "create" and report["matches"] and report["exit_code"] == 0
    assert len(report["routes"]) == ROUTES_OF_THE_TUTORIAL
    assert {r["verdict"] for r in report["routes"]} == {"matches"}
    assert all(e["status"] == e["expected_status"] for e in report["exchanges"])
    steps = [e["step"] for e in report["exchanges"]]
    assert steps[-1] == "cancel the order" and any("1001 characters" in s for s in steps)
    assert report["notes"] == [n for n in report["notes"] if n.endswith("canceled the order.")]
    assert len(report["notes"]) == 1
    markdown = (out / "check.md").read_text(encoding="utf-8")
    assert "verdict: every answer matches the contract" in markdown
    assert "check passed" in result.stdout and result.stderr == ""
    # The local secret and every token the server issued stay out of every output.
    assert DEFAULT_CLIENT_SECRET not in written(out, result.stdout)
    tokens = [e for e in read_recording(out / "recording.jsonl") if e["path"] == "/v2/oauth/token"]
    assert len(tokens) == 2
    assert all(e["response"]["access_token"] == REDACTED for e in tokens)
    assert all(e["request"]["client_secret"] == REDACTED for e in tokens)


@pytest.mark.usefixtures("credentials")
def test_a_deviating_server_is_reported_field_by_field(
    deviating: tuple[DeviatingServer, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _server, url = deviating
    out = tmp_path / "report"
    assert cli.main(["check", "--base-url", url, "--create", "--out", str(out)]) == 1
    found = differences(out)
    # An extra field: named, and the client copes (it keeps it in model_extra).
    extra = found[("order status", "store_name")]
    assert extra["client_copes"] and extra["guess"] == "Order fields"
    # Empty sender types: the client copes, the transcript and the panel use the metadata ids.
    for step in ("the conversation", "the conversation after sending"):
        for name in ("sender_type", "recipient_type"):
            empty = found[(step, f"chat_messages[0].{name}")]
            assert empty["got"] == '""' and empty["guess"] == "Identity"
            assert empty["client_copes"] and "metadata" in empty["client"]
    # A renamed field: the missing one breaks the client, the new one is merely extra.
    renamed = found[("send a message", "id")]
    assert renamed["got"] == "missing" and not renamed["client_copes"]
    assert "ResponseShapeError: id: missing" in renamed["client"]
    assert found[("send a message", "message_id")]["client_copes"]
    # A wrong type: named, and the client does not cope.
    wrong = found[("mark the messages read", "messages_read_count")]
    assert wrong["expected"] == "an integer" and wrong["got"] == '"1" (a string)'
    assert not wrong["client_copes"]
    # A different error envelope: `error` missing, `errors` extra; mapped by its status only.
    unknown = "an unknown order (404, code 4000)"
    assert found[(unknown, "error")]["got"] == "missing"
    assert found[(unknown, "errors")]["got"] == "an extra field (a list)"
    assert "NotFoundError (code None" in found[(unknown, "error")]["client"]
    assert len(found) == 10

    markdown = (out / "check.md").read_text(encoding="utf-8")
    for _step, field in found:
        assert f"`{field}`" in markdown
    assert "open an issue with this file attached" in markdown
    printed = capsys.readouterr()
    assert "check FOUND DIFFERENCES: 10 difference(s)" in printed.out and printed.err == ""
    routes = {r["route"]: r for r in json.loads((out / "check.json").read_text())["routes"]}
    assert routes["GET /v2/post_checkout/orders/{order_id}"]["client_copes"]
    assert not routes["PUT /v2/post_checkout/chat/{order_id}/messages"]["client_copes"]
    assert routes["POST /v2/fulfillment/users"]["verdict"] == "matches"


@pytest.mark.usefixtures("credentials")
def test_no_report_or_recording_holds_a_secret_or_token(
    deviating: tuple[DeviatingServer, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _server, url = deviating
    out = tmp_path / "report"
    cli.main(["check", "--base-url", url, "--create", "--out", str(out)])
    everything = written(out, capsys.readouterr().out)
    assert sorted(p.name for p in out.iterdir()) == ["check.json", "check.md", "recording.jsonl"]
    for secret in SECRETS:
        assert secret not in everything
    assert "Bearer " not in everything
    assert len(read_recording(out / "recording.jsonl")) == 17


def test_the_tutorials_own_example_is_reported_with_what_the_client_makes_of_it(
    tmp_path: Path,
) -> None:
    server = DeviatingServer(frozenset({"tutorial_example"}))
    with server.serve() as url:
        report = check.run_check(url, order_id="order-1", user_id="customer-1", out=tmp_path,
                                 environ={"CONNECT_USER_TOKEN": USER_TOKEN})
    assert report.exit_code == 1 and report.mode == "read-only"
    found = {d.field: d for _exchange, d in report.differences}
    assert set(found) == {f"chat_messages[0].{name}" for name in (
        "recipient_id", "recipient_type", "sender_id", "sender_type", "read_at")}
    read_at = found["chat_messages[0].read_at"]
    assert read_at.guess == "`read_at`" and read_at.client_copes
    assert read_at.expected == "null (while `read` is false)"
    # Nothing tells who sent it: the client reads it, but cannot say who wrote it.
    sender = found["chat_messages[0].sender_type"]
    assert sender.guess == "Identity" and not sender.client_copes
    assert "cannot tell who sent message 123" in sender.client
    assert found["chat_messages[0].sender_id"].expected == "a non-empty string"
    # Read-only: no token was asked for (a ready user token), nothing was created or sent.
    assert {method for method, _path in server.requests} == {"GET"}
    assert any("CONNECT_USER_TOKEN" in note for note in report.notes)


def test_null_text_is_a_difference_the_client_reads_as_empty(tmp_path: Path) -> None:
    with DeviatingServer(frozenset({"nulls"})).serve() as url:
        report = check.run_check(url, order_id="order-1", user_id="customer-1", out=tmp_path,
                                 environ={"CONNECT_CLIENT_ID": CLIENT_ID,
                                          "CONNECT_CLIENT_SECRET": CLIENT_SECRET})
    found = {d.field: d for _exchange, d in report.differences}
    assert set(found) == {"chat_messages[0].body", "chat_messages[0].image"}
    assert all(d.got == "null" and d.expected == "a string" and d.client_copes
               for d in found.values())
    assert 'read as ""' in found["chat_messages[0].body"].client


def test_a_failed_step_skips_the_steps_that_need_it(tmp_path: Path) -> None:
    with DeviatingServer(frozenset({"broken_shopper"})).serve() as url:
        report = check.run_check(url, create=True, out=tmp_path,
                                 environ={"CONNECT_CLIENT_ID": CLIENT_ID,
                                          "CONNECT_CLIENT_SECRET": CLIENT_SECRET})
    skipped = {e.step: e.skipped for e in report.exchanges if e.skipped}
    assert skipped == {"batch the order for the shopper": "needs shopper",
                       "advance the batch to picking": "needs batch"}
    (status,) = [d for _e, d in report.differences]
    assert (status.field, status.expected, status.got) == ("(status)", "HTTP 200", "HTTP 500")
    assert not status.client_copes and "ServerError" in status.client
    verdicts = {r.route: r.verdict for r in report.routes()}
    assert verdicts["POST /v2/fulfillment_sandbox/batches"] == "not checked"
    frame = check.to_frame(report)
    assert list(frame.columns) == ["route", "checks", "verdict", "differences", "client copes"]
    assert "not checked" in check.format_summary(report)


@pytest.mark.parametrize(
    ("args", "env", "sentence"),
    [
        ([], {}, "read-only mode reads an existing order: pass --order-id ID --user-id ID"),
        (["--order-id", "o-1"], {}, "--order-id needs --user-id too"),
        (["--user-id", "u-1"], {}, "--user-id needs --order-id too"),
        (["--order-id", " o", "--user-id", "u"], {}, "--order-id: order_id is invalid"),
        (["--base-url", "ftp://example.com", "--create"], {}, "--base-url must be an http(s)"),
        (["--base-url", "http://127.0.0.1:9", "--create"], {"CONNECT_CLIENT_ID": "x"},
         "CONNECT_CLIENT_SECRET is missing"),
        (["--base-url", "http://127.0.0.1:9", "--create"], {"CONNECT_USER_TOKEN": "t0ken"},
         "--create needs client credentials"),
        (["--base-url", "http://127.0.0.1:9", "--create"], {},
         "no server answers at http://127.0.0.1:9"),
        (["--create", "--bogus"], {}, "unrecognized arguments"),
    ],
)
def test_bad_options_and_no_server_exit_2_with_one_sentence(
    args: list[str], env: dict[str, str], sentence: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "report"
    assert run_cli(["check", *args, "--out", str(out)]) == 2
    printed = capsys.readouterr()
    assert sentence in printed.err and printed.out == ""
    assert len(printed.err.strip().splitlines()) == 1, printed.err
    assert not out.exists(), "nothing is written when the check cannot run"


def test_refused_credentials_exit_2_with_a_sentence(
    deviating: tuple[DeviatingServer, str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    _server, url = deviating  # it does not know the local credentials
    assert run_cli(["check", "--base-url", url, "--create", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "the server refused the credentials (the development server's local ones" in err
    assert not (tmp_path / "r").exists()


def test_every_guess_is_a_heading_of_the_readme() -> None:
    readme = README.read_text(encoding="utf-8")
    section = readme.split("### Where the development server has to guess", 1)[1]
    section = section.split("\n### ", 1)[0]
    for guess in check.GUESSES:
        assert f"- **{guess.heading}" in section, guess.heading
    assert check.guess_for("GET /v2/post_checkout/chat/{order_id}/messages",
                           "chat_messages[3].read_at") == "`read_at`"
    assert check.guess_for("POST /v2/oauth/token", "created_at") == "Tokens"
    assert check.guess_for("POST /v2/oauth/token", "(status)") == ""
    assert check.guess_for("GET /v2/post_checkout/orders/{order_id}", "window.start_at") == (
        "Order fields")
