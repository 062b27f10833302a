"""`shopper-chat serve` as a user runs it: a subprocess that prints its URL and stops on Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from shopper_chat.cli import build_parser

CLI = [sys.executable, "-m", "shopper_chat.cli"]


def test_serve_prints_its_url_answers_and_stops(tmp_path: Path) -> None:
    env = {**os.environ, "CONNECT_CLIENT_SECRET": "a-secret-not-to-print"}
    process = subprocess.Popen(
        [*CLI, "serve", "--port", "0", "--seed", "3", "--clock", "2026-01-15T17:00:00Z",
         "--db", str(tmp_path / "db.sqlite3"), "--reply-delay", "0.5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("shopper-chat development server on http://127.0.0.1:")
        assert line.rstrip().endswith("(client id shopper-chat-local)")
        base_url = line.split(" on ")[1].split(" ")[0]
        health = httpx.get(f"{base_url}/_emulator/health", timeout=5).json()
        assert health["status"] == "ok" and health["seed"] == 3 and health["db"] == "file"
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    assert "a-secret-not-to-print" not in line + out + err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "--port", "abc"], "not a port number"),
        (["serve", "--port", "70000"], "a port is 0 to 65535"),
        (["serve", "--clock", "soon"], "not an ISO 8601 time"),
        (["serve", "--reply-delay", "-1"], "seconds from 0 to 86400"),
        (["serve", "--bogus"], "unrecognized arguments"),
        (["serve", "--shopper-script", "/nonexistent/script.yaml"], "cannot read the shopper"),
    ],
)
def test_bad_flags_exit_2_with_one_sentence(args: list[str], message: str) -> None:
    result = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_bad_script_names_the_key(tmp_path: Path) -> None:
    script = tmp_path / "s.yaml"
    script.write_text("greeting: hi\nreplies:\n  - keywords: [a]\n    answer: b\n")
    result = subprocess.run([*CLI, "serve", "--shopper-script", str(script)],
                            capture_output=True, text=True, timeout=30)  # fmt: skip
    assert result.returncode == 2 and "`replies[0].answer`" in result.stderr


def test_run_subcommand_options() -> None:
    argv = ["run", "--only", "01_setup", "02_simulate_shopping", "--seed", "7"]
    args = build_parser().parse_args([*argv, "--clock", "2026-01-15T17:00:00Z"])
    # The runner owns the details of `run`; these options are the shared contract.
    assert args.only == ["01_setup", "02_simulate_shopping"] and str(args.out) == "outputs"
    assert args.seed == 7 and args.base_url is None and callable(args.handler)


def test_version() -> None:
    from shopper_chat import __version__

    result = subprocess.run([*CLI, "--version"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and result.stdout.strip() == f"shopper-chat {__version__}"


def test_serve_help_shows_every_default() -> None:
    result = subprocess.run([*CLI, "serve", "--help"], capture_output=True, text=True,
                            timeout=30, env={**os.environ, "COLUMNS": "100"})  # fmt: skip
    assert result.returncode == 0
    options = result.stdout.split("options:", 1)[1]
    # One block per option: its line and the indented lines of its help.
    blocks = [" ".join(b.split()) for b in re.split(r"\n  (?=-)", options) if b.strip()]
    named = {b.split()[0].rstrip(","): b for b in blocks}
    assert set(named) >= {"--host", "--port", "--db", "--seed", "--clock", "--shopper-script",
                          "--no-shopper", "--reply-delay", "--access-log"}
    for option, block in named.items():
        if option != "-h":
            assert "(default: " in block, block
    assert "(default: 127.0.0.1)" in named["--host"] and "(default: 8765)" in named["--port"]


def test_serve_access_log_has_one_line_per_request_and_no_secret(tmp_path: Path) -> None:
    secret = "a-secret-not-to-log"
    env = {**os.environ, "CONNECT_CLIENT_SECRET": secret}
    process = subprocess.Popen(
        [*CLI, "serve", "--port", "0", "--seed", "3", "--clock", "2026-01-15T17:00:00Z",
         "--access-log"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().split(" on ")[1].split(" ")[0]
        with httpx.Client(base_url=base_url, timeout=5) as http:
            token = http.post("/v2/oauth/token", json={
                "client_id": "shopper-chat-local", "client_secret": secret,
                "grant_type": "client_credentials", "scope": "connect:fulfillment",
            }).json()["access_token"]  # fmt: skip
            http.get("/v2/post_checkout/chat/o1/messages",
                     headers={"Authorization": f"Bearer {token}"})  # fmt: skip
            http.post(f"/v2/oauth/token?client_id=x&client_secret={secret}", json={})
            http.get("/_emulator/health")
            http.get("/v2/post_checkout/chat/a%0Ab/messages")
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=15)
    lines = err.strip().splitlines()
    assert [line.rsplit(" ", 3)[0] for line in lines] == [
        "POST /v2/oauth/token",
        "GET /v2/post_checkout/chat/o1/messages",
        "POST /v2/oauth/token",
        "GET /_emulator/health",
        "GET /v2/post_checkout/chat/a%0Ab/messages",
    ], err
    statuses = [line.split(" ")[2] for line in lines]
    assert statuses == ["200", "404", "403", "200", "401"], err
    for line in lines:
        assert line.endswith(" ms") and float(line.split(" ")[3]) >= 0
    for text in (secret, token, "client_secret", "?"):
        assert text not in out + err
