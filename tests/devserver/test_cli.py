"""`shopper-chat serve` as a user runs it: a subprocess that prints its URL and stops on Ctrl-C."""

from __future__ import annotations

import os
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
