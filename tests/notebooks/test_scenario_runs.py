"""`shopper-chat run --scenario ...`: one run folder per scenario on one server, the customer's
messages from the scenario's sample replies, and transcripts that read as the scenarios say."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from notebook_runs import Run, run_cli
from shopper_chat.devserver.scenarios import BUILT_IN, built_in_scenarios


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:
    """`--scenario all --parallel 2`: every built-in scenario, two at a time, on one server."""
    out = tmp_path_factory.mktemp("scenarios")
    done = run_cli(out, "--scenario", "all", "--parallel", "2", timeout=280)
    assert done.returncode == 0, done.output
    runs = {}
    for folder in sorted(p for p in out.iterdir() if p.is_dir() and p.name != "latest"):
        run = Run(folder=folder, returncode=done.returncode, output=done.output)
        runs[run.summary["scenario"]["name"]] = run
    yield runs


def rows(run: Run) -> list[dict[str, Any]]:
    return run.transcript()


def assert_reads_like_a_conversation(messages: list[dict[str, Any]]) -> None:
    """No shopper text twice in a row; every customer message is answered by the shopper."""
    shopper = [m["body"] for m in messages if m["sender_role"] == "shopper"]
    assert all(a != b for a, b in zip(shopper, shopper[1:], strict=False)), shopper
    for i, message in enumerate(messages):
        if message["sender_role"] == "customer":
            assert any(m["sender_role"] == "shopper" for m in messages[i + 1:]), message["body"]


def test_one_passing_run_folder_per_scenario(matrix: dict[str, Run]) -> None:
    assert sorted(matrix) == sorted(BUILT_IN)
    output = next(iter(matrix.values())).output
    assert "scenarios passed: 5 passed, 0 failed" in output
    assert "[replacement] 05_send_message" in output  # parallel lines name their scenario
    for name, run in matrix.items():
        summary = run.summary
        assert summary["status"] == "passed", (name, summary["problems"])
        assert len({s["ids"]["ORDER_ID"] for s in (r.summary for r in matrix.values())}) == 5
        assert_reads_like_a_conversation(rows(run))


def test_the_customer_says_the_scenarios_sample_replies(matrix: dict[str, Run]) -> None:
    for name, scenario in built_in_scenarios().items():
        sent = [m["body"] for m in rows(matrix[name]) if m["sender_role"] == "customer"]
        assert sent == [m.body for m in scenario.customer[:2]], name
        params = matrix[name].summary["scenario"]["params"]
        assert params["MESSAGE"] == scenario.customer[0].body  # texts only, never a secret


def test_replacement_ends_with_the_item_replaced(matrix: dict[str, Run]) -> None:
    run = matrix["replacement"]
    shopper = [m["body"] for m in rows(run) if m["sender_role"] == "shopper"]
    assert any(m["image"] for m in rows(run) if "Would these regular bananas" in m["body"])
    assert "Great, Sierra: I've swapped in the regular bananas." in shopper
    scenario = run.summary["scenario"]
    assert scenario["state"] == "settled"
    assert scenario["items"][0] == {"line_num": "1", "status": "replaced",
                                    "replacement_item": {"rrc": "regular-bananas"}}


def test_out_of_stock_refund_refunds(matrix: dict[str, Run]) -> None:
    assert matrix["out-of-stock-refund"].summary["scenario"]["items"][0]["status"] == "to_refund"


def test_delivery_updates_follow_the_batch_to_the_door(matrix: dict[str, Run]) -> None:
    run = matrix["delivery-updates"]
    shopper = [m["body"] for m in rows(run) if m["sender_role"] == "shopper"]
    assert "at checkout" in shopper[-3] and "on my way" in shopper[-2]
    assert shopper[-1].startswith("Delivered!")
    assert run.summary["scenario"]["finished"] == ["checkout", "delivering", "completed"]


def test_special_request_names_the_items(matrix: dict[str, Run]) -> None:
    shopper = [m["body"] for m in rows(matrix["special-request"]) if m["sender_role"] == "shopper"]
    assert "green bananas" in shopper[1] and "firm avocado" in shopper[2]


def test_the_default_run_answers_each_message_about_what_it_said(embedded_run: Run) -> None:
    messages = embedded_run.transcript()
    assert_reads_like_a_conversation(messages)
    for i, message in enumerate(messages):
        if message["sender_role"] == "customer":
            answer = next(m for m in messages[i + 1:] if m["sender_role"] == "shopper")
            assert "bananas" in message["body"] and "bananas" in answer["body"]


@pytest.mark.parametrize(
    ("args", "words"),
    [(["--scenario", "nope"], "--scenario nope: not a scenario"),
     (["--parallel", "2"], "--parallel runs scenarios at once"),
     (["--scenario", "all", "--parallel", "0"], "--parallel must be")],
)  # fmt: skip
def test_bad_scenario_options_exit_2_before_anything(tmp_path: Path, args: list[str],
                                                     words: str) -> None:  # fmt: skip
    done = run_cli(tmp_path / "out", *args, timeout=60)
    assert done.returncode == 2 and words in done.output, done.output
    assert not (tmp_path / "out").exists()
