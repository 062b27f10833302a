"""`shopper-chat run` end to end: embedded server, a separate `shopper-chat serve`, bad input."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from notebook_runs import ROOT, Run, run_cli
from shopper_chat.devserver import DEFAULT_CLIENT_SECRET
from support import CLI, ServeProcess, clean_env, free_port

GREETING = "Hi, this is Zelma, your shopper. I'm just getting started on your shopping list."
CUSTOMER_IMAGE = "https://example.com/images/green-bananas.jpg"
LOCAL_SERVER = re.compile(r"^http://127\.0\.0\.1:\d+")
STEP_NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("0[1-7]_*.ipynb"))


def conversation(run: Run) -> list[tuple[str, str, str, bool]]:
    """The run's transcript as (role, body, image, read) rows: what two runs must agree on.

    Images the development server hosts itself carry its address, which differs between servers.
    """
    return [
        (m["sender_role"], m["body"], LOCAL_SERVER.sub("", m["image"]), bool(m["read"]))
        for m in run.transcript()
    ]


def test_embedded_run_writes_notebooks_transcript_and_summary(embedded_run: Run) -> None:
    assert embedded_run.returncode == 0, embedded_run.output
    folder = embedded_run.folder
    assert (folder.parent / "latest").resolve() == folder
    for name in STEP_NOTEBOOKS:
        assert (folder / f"{name}.ipynb").is_file(), name
        assert f"{name}." in embedded_run.output  # one progress line per step
    for suffix in ("md", "html", "csv", "json"):
        assert (folder / f"transcript.{suffix}").is_file()
    summary = embedded_run.summary
    assert summary["status"] == "passed"
    assert [s["step"] for s in summary["steps"]] == STEP_NOTEBOOKS
    assert all(s["status"] == "passed" and s["error"] is None for s in summary["steps"])
    assert {"USER_ID", "ORDER_ID"} <= set(summary["steps"][0]["ids_created"])
    assert {"SHOPPER_ID", "BATCH_ID"} <= set(summary["steps"][1]["ids_created"])


def test_embedded_run_transcript_has_greeting_image_and_read_state(embedded_run: Run) -> None:
    messages = embedded_run.transcript()
    greeting = next(m for m in messages if m["body"] == GREETING)
    assert greeting["sender_role"] == "shopper"
    assert greeting["read"] is True and greeting["read_at"]
    sent = [m for m in messages if m["sender_role"] == "customer" and m["image"] == CUSTOMER_IMAGE]
    assert sent and sent[0]["body"].startswith("Hi, this is Sierra")
    markdown = (embedded_run.folder / "transcript.md").read_text(encoding="utf-8")
    html = (embedded_run.folder / "transcript.html").read_text(encoding="utf-8")
    assert "Zelma" in markdown and CUSTOMER_IMAGE in markdown
    assert CUSTOMER_IMAGE in html


def test_no_secret_or_token_in_any_file_of_a_run(embedded_run: Run) -> None:
    assert len(embedded_run.tokens) >= 2  # the client token and at least one user token
    needles = [DEFAULT_CLIENT_SECRET, *embedded_run.tokens]
    files = [p for p in embedded_run.folder.rglob("*") if p.is_file()]
    assert len(files) >= 10
    for path in files:
        content = path.read_text(encoding="utf-8", errors="replace")
        for needle in needles:
            assert needle not in content, f"{path.name} holds a secret or token"
    assert DEFAULT_CLIENT_SECRET not in embedded_run.output


@pytest.fixture()
def serve_process() -> Iterator[str]:
    """`shopper-chat serve` in its own process, with the run's default seed and clock."""
    server = ServeProcess(["--seed", "7", "--clock", "2026-01-15T17:00:00Z"]).start()
    try:
        yield server.base_url
    finally:
        server.stop()


def test_run_against_shopper_chat_serve_gives_the_same_transcript(
    embedded_run: Run, serve_process: str, tmp_path: Path
) -> None:
    run = run_cli(tmp_path, "--base-url", serve_process)
    assert run.returncode == 0, run.output
    assert run.summary["server"] == serve_process
    assert conversation(run) == conversation(embedded_run)
    assert run.summary["ids"]["ORDER_ID"] != embedded_run.summary["ids"]["ORDER_ID"]


def test_wrong_base_url_ends_with_one_sentence_and_a_summary(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    run = run_cli(tmp_path, "--base-url", url, "--only", "01", "02")
    assert run.returncode == 1
    assert "Step 01_setup failed in cell " in run.output
    assert f"could not reach the server at {url} (APIConnectionError" in run.output
    # where the README says: the run ends with the sentence, after the verdict
    last = run.output.strip().splitlines()[-2:]
    assert last[0].startswith("run FAILED: 0 passed, 1 failed, 1 skipped; wrote ")
    assert last[1].startswith("Step 01_setup failed in cell ")
    assert ": 2 steps against" in run.output
    assert "Traceback" not in run.output
    steps = run.summary["steps"]
    assert [(s["step"], s["status"]) for s in steps] == [
        ("01_setup", "failed"), ("02_simulate_shopping", "skipped")
    ]
    assert steps[0]["error"]["name"] == "APIConnectionError"
    assert steps[0]["error"]["cell"] and steps[0]["error"]["cell_source_first_line"]
    assert (run.folder / "01_setup.ipynb").is_file()  # executed up to the failing cell


def test_wrong_secret_ends_with_one_sentence_and_never_shows_it(
    devserver: str, tmp_path: Path
) -> None:
    wrong = "not-the-secret-0123456789"
    env = clean_env(CONNECT_CLIENT_ID="shopper-chat-local", CONNECT_CLIENT_SECRET=wrong)
    run = run_cli(tmp_path, "--base-url", devserver, "--only", "01", "02", env=env)
    assert run.returncode == 1
    assert "Step 01_setup failed" in run.output
    assert "refused the credentials" in run.output
    assert "Traceback" not in run.output
    assert run.summary["steps"][0]["error"]["name"] == "AuthenticationError"
    for path in [p for p in run.folder.rglob("*") if p.is_file()]:
        assert wrong not in path.read_text(encoding="utf-8", errors="replace"), path.name
    assert wrong not in run.output


def test_a_failing_step_still_leaves_the_transcript_of_what_happened(
    devserver: str, tmp_path: Path
) -> None:
    fault = {"method": "PUT", "path": "/v2/post_checkout/chat/*", "status": 500, "times": None}
    httpx.post(f"{devserver}/_emulator/faults", json=fault, timeout=5).raise_for_status()
    run = run_cli(tmp_path, "--base-url", devserver, "--only", "01", "02", "05", "06")
    assert run.returncode == 1
    statuses = {s["step"]: s["status"] for s in run.summary["steps"]}
    assert statuses == {"01_setup": "passed", "02_simulate_shopping": "passed",
                        "05_send_message": "passed", "06_mark_read": "failed"}
    assert "Step 06_mark_read failed in cell" in run.output
    assert "the server failed (ServerError" in run.output
    assert "Traceback" not in run.output
    roles = [(role, body == GREETING, image) for role, body, image, _ in conversation(run)]
    assert ("shopper", True, "") in roles
    assert any(role == "customer" and image == CUSTOMER_IMAGE for role, _, image in roles)
    # marking read is what failed: the shopper's messages are still unread
    assert not any(read for role, _, _, read in conversation(run) if role == "shopper")


def test_unknown_step_is_refused_before_anything_runs(tmp_path: Path) -> None:
    run = run_cli(tmp_path, "--only", "99")
    assert run.returncode == 2
    assert "unknown step '99'" in run.output
    assert not any(tmp_path.iterdir())


def test_unknown_order_ends_with_one_sentence(devserver: str, tmp_path: Path) -> None:
    run = run_cli(tmp_path, "--base-url", devserver, "--only", "06",
                  "-p", "USER_ID=customer-nobody", "-p", "ORDER_ID=order-nobody")
    assert run.returncode == 1
    assert "Step 06_mark_read failed in cell " in run.output
    assert "the server does not know that order or user (NotFoundError" in run.output
    assert "Traceback" not in run.output
    assert run.summary["steps"][0]["parameters"] == {
        "USER_ID": "customer-nobody", "ORDER_ID": "order-nobody"
    }


def test_a_secret_is_refused_as_a_parameter(tmp_path: Path) -> None:
    run = run_cli(tmp_path, "-p", "CONNECT_CLIENT_SECRET=s3cr3t-value")
    assert run.returncode == 2
    assert "-p CONNECT_CLIENT_SECRET: not an id a step of this run takes" in run.output
    assert "s3cr3t-value" not in run.output
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (["--clock", "yesterday"], "--clock must be an ISO 8601 time"),
        (["--base-url", "not-a-url"], "--base-url must be an http(s) URL"),
        (["--timeout", "-5"], "--timeout must be a number of seconds above 0"),
        (["-p", "ORDERID=order-1"], "-p ORDERID: not an id a step of this run takes"),
    ],
)
def test_a_bad_option_exits_2_with_one_sentence_before_any_run_folder(
    tmp_path: Path, args: list[str], sentence: str
) -> None:
    run = run_cli(tmp_path / "out", *args)
    assert run.returncode == 2
    assert run.output.startswith(f"shopper-chat run: {sentence}")
    assert len(run.output.strip().splitlines()) == 1 and run.output.strip().endswith(".")
    assert not (tmp_path / "out").exists()


def test_with_a_real_servers_credentials_exported_an_offline_run_passes(tmp_path: Path) -> None:
    """The newcomer's case: their real development server's credentials are exported, and
    `--only 05` alone (which used to fail on ids nobody had made) runs 01 and 02 first."""
    secret = "real-server-secret-0123456789"
    env = clean_env(CONNECT_CLIENT_ID="real-server-client", CONNECT_CLIENT_SECRET=secret)
    run = run_cli(tmp_path, "--only", "05", env=env)
    assert run.returncode == 0, run.output
    assert ": 3 steps against an embedded development server" in run.output
    assert "01_setup and 02_simulate_shopping run first: 05_send_message needs" in run.output
    summary = run.summary
    assert summary["credentials"] == "yours"
    assert summary["added_steps"] == ["01_setup", "02_simulate_shopping"]
    assert [(s["step"], s["status"]) for s in summary["steps"]] == [
        ("01_setup", "passed"), ("02_simulate_shopping", "passed"), ("05_send_message", "passed")]
    assert summary["steps"][2]["parameters"]["ORDER_ID"] == summary["ids"]["ORDER_ID"]
    assert any(m["image"] == CUSTOMER_IMAGE for m in run.transcript())
    assert secret not in run.output
    for path in [p for p in run.folder.rglob("*") if p.is_file()]:
        assert secret not in path.read_text(encoding="utf-8", errors="replace"), path.name


def test_ctrl_c_leaves_an_interrupted_summary_and_latest_alone(tmp_path: Path) -> None:
    """Ctrl-C in a terminal signals the whole process group: the runner and its kernel."""
    process = subprocess.Popen(
        [str(CLI), "run", "--out", str(tmp_path)], env=clean_env(), cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    assert process.stdout is not None
    try:
        lines = []
        for line in process.stdout:  # the first step's line: the second step is starting
            lines.append(line)
            if line.startswith("01_setup"):
                break
        time.sleep(0.2)  # into the second step's kernel start-up or first cells
        os.killpg(process.pid, signal.SIGINT)
        lines.extend(process.stdout)
        assert process.wait(timeout=60) == 130, "".join(lines)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
    output = "".join(lines)
    assert "Traceback" not in output
    assert lines[-1].startswith("run interrupted during 02_simulate_shopping: 1 passed, "), output
    assert not (tmp_path / "latest").exists()  # no finished run yet
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "interrupted" and summary["finished_at"]
    statuses = [s["status"] for s in summary["steps"]]
    assert statuses[:2] == ["passed", "interrupted"]
    assert set(statuses[2:]) == {"not run"}
    assert len(statuses) == len(STEP_NOTEBOOKS)
