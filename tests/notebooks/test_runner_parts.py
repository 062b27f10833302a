"""The runner's parts, without kernels: options, step selection, ids, kernels' environment, words."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from notebook_runs import NOTEBOOKS
from shopper_chat import runner
from shopper_chat._workbench import resolve_connection
from shopper_chat.devserver import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET


def test_steps_are_chosen_by_number_or_name_in_chain_order() -> None:
    steps = runner.select_steps(NOTEBOOKS, ["05", "1", "02_simulate_shopping"])
    assert [s.name for s in steps] == ["01_setup", "02_simulate_shopping", "05_send_message"]
    every = [s.name for s in runner.select_steps(NOTEBOOKS, None)]
    assert every[:6] == [f"0{i}_{n}" for i, n in enumerate(
        ["setup", "simulate_shopping", "shopper_message", "retrieve_messages", "send_message",
         "mark_read"], start=1)]


def test_the_panel_step_runs_only_when_its_notebook_exists(tmp_path: Path) -> None:
    assert "07_chat_panel" not in [s.name for s in runner.select_steps(tmp_path, None)]


def test_an_unknown_step_is_an_option_error() -> None:
    with pytest.raises(runner.OptionError, match="unknown step '9'"):
        runner.select_steps(NOTEBOOKS, ["9"])


def test_params_are_name_value_pairs_and_a_bad_one_is_not_repeated() -> None:
    assert runner.parse_params(["ORDER_ID=order-1", "SHOPPER_ID=12"]) == {
        "ORDER_ID": "order-1", "SHOPPER_ID": "12"
    }
    for bad in ("ORDER_ID", "ORDER_ID=", "=x", "ORDER-ID=x"):
        with pytest.raises(runner.OptionError, match="give an id as NAME=VALUE") as caught:
            runner.parse_params([bad])
        assert "=x" not in str(caught.value)


def test_only_ids_a_step_takes_are_parameters_with_their_declared_types(tmp_path: Path) -> None:
    plan = runner.plan_run(out=tmp_path, params={"USER_ID": "c-1", "SHOPPER_ID": "12"})
    assert plan.params == {"USER_ID": "c-1", "SHOPPER_ID": 12}
    cases = {
        "ORDERID": "not an id a step of this run takes (they take USER_ID, ORDER_ID and "
                   "SHOPPER_ID; the closest is ORDER_ID)",
        "CONNECT_CLIENT_SECRET": "not an id a step of this run takes",
        "BATCH_ID": "not an id a step of this run takes",  # reported by step 02, taken by none
    }
    for name, sentence in cases.items():
        with pytest.raises(runner.OptionError, match=re.escape(f"-p {name}: {sentence}")) as e:
            runner.plan_run(out=tmp_path, params={name: "s3cr3t"})
        assert "s3cr3t" not in str(e.value)
    with pytest.raises(runner.OptionError, match="-p SHOPPER_ID: must be a whole number"):
        runner.plan_run(out=tmp_path, params={"SHOPPER_ID": "abc"})
    assert not any(tmp_path.iterdir())


def names(plan: runner.Plan) -> list[str]:
    return [s.number for s in plan.steps]


def test_only_runs_the_steps_a_chosen_one_needs_first(tmp_path: Path) -> None:
    plan = runner.plan_run(out=tmp_path, only=["05"])
    assert names(plan) == ["01", "02", "05"]
    assert plan.added == ("01_setup", "02_simulate_shopping")
    assert names(runner.plan_run(out=tmp_path, only=["01", "06"])) == ["01", "02", "06"]
    assert runner.plan_run(out=tmp_path, only=["01"]).added == ()
    # A customer alone is not an order: step 01 makes the order for that customer.
    assert names(runner.plan_run(out=tmp_path, only=["5"], params={"USER_ID": "c"})) == [
        "01", "02", "05"]


def test_an_existing_order_given_with_p_adds_no_steps(tmp_path: Path) -> None:
    order = {"USER_ID": "c-1", "ORDER_ID": "o-1"}
    plan = runner.plan_run(out=tmp_path, only=["04", "05"], params=order)
    assert names(plan) == ["04", "05"] and plan.added == ()


def test_an_order_without_its_customer_is_refused_unless_step_01_makes_it(tmp_path: Path) -> None:
    with pytest.raises(runner.OptionError, match="-p ORDER_ID needs -p USER_ID too"):
        runner.plan_run(out=tmp_path, only=["05"], params={"ORDER_ID": "o-1"})
    assert names(runner.plan_run(out=tmp_path, only=["01"], params={"ORDER_ID": "o-1"})) == ["01"]


@pytest.mark.parametrize(
    ("options", "sentence"),
    [
        ({"clock": "yesterday"}, "--clock must be an ISO 8601 time such as 2026-01-15T17:00:00Z, "
                                 "or '' for real time, not 'yesterday'"),
        ({"base_url": "not-a-url"}, "--base-url must be an http(s) URL such as "
                                    "http://127.0.0.1:8765, not 'not-a-url'"),
        ({"timeout": -5}, "--timeout must be a number of seconds above 0 and at most 86400, "
                          "not -5"),
        ({"timeout": float("inf")}, "--timeout must be a number of seconds"),
        ({"seed": -1}, "--seed must be a whole number, 0 or more, not -1"),
        ({"notebooks": "/nonexistent"}, "no notebook 01_setup.ipynb in /nonexistent"),
    ],
)
def test_a_bad_option_is_one_sentence_before_anything_is_written(
    tmp_path: Path, options: dict[str, object], sentence: str
) -> None:
    with pytest.raises(runner.OptionError) as caught:
        runner.plan_run(out=tmp_path / "out", **options)  # type: ignore[arg-type]
    assert str(caught.value).startswith(sentence) and "\n" not in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_a_bad_connect_base_url_is_named_as_such(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONNECT_BASE_URL", "localhost:8765")
    with pytest.raises(runner.OptionError, match="^CONNECT_BASE_URL must be an http"):
        runner.plan_run(out=tmp_path)


def test_half_a_pair_of_credentials_for_a_real_server_is_a_bad_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONNECT_CLIENT_ID", "real-id")
    with pytest.raises(runner.OptionError, match="^CONNECT_CLIENT_SECRET is missing"):
        runner.plan_run(out=tmp_path, base_url="http://127.0.0.1:9")
    assert runner.plan_run(out=tmp_path).connection.credentials == "local"  # offline: ignored


def test_the_kernels_get_the_runs_server_and_credentials_in_their_environment() -> None:
    real = {"CONNECT_CLIENT_ID": "real-id", "CONNECT_CLIENT_SECRET": "real-secret",
            "CONNECT_USER_TOKEN": "real-token", "PATH": "/bin"}
    embedded = resolve_connection(environ=real)
    assert runner.kernel_environment(embedded, "http://127.0.0.1:1", real) == {
        "PATH": "/bin", "CONNECT_BASE_URL": "http://127.0.0.1:1",
        "CONNECT_CLIENT_ID": "real-id", "CONNECT_CLIENT_SECRET": "real-secret",
    }
    local = resolve_connection(environ={})
    env = runner.kernel_environment(local, "http://127.0.0.1:1", {})
    assert (env["CONNECT_CLIENT_ID"], env["CONNECT_CLIENT_SECRET"]) == (
        DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
    token_only = {"CONNECT_BASE_URL": "https://x.example", "CONNECT_USER_TOKEN": "t"}
    assert runner.kernel_environment(
        resolve_connection(environ=token_only), "https://x.example", token_only
    ) == {"CONNECT_BASE_URL": "https://x.example", "CONNECT_USER_TOKEN": "t"}


def test_run_ids_are_unique_per_run() -> None:
    first, second = runner.new_run_id(), runner.new_run_id()
    assert first != second
    assert runner.run_ids(first)["ORDER_ID"] != runner.run_ids(second)["ORDER_ID"]


def test_a_steps_ids_are_read_from_its_cell_tagged_ids(tmp_path: Path) -> None:
    cell = {"cell_type": "code", "metadata": {"tags": ["ids"]}, "outputs": [
        {"output_type": "execute_result",
         "data": {"text/plain": ["{'USER_ID': 'c-1',\n", " 'SHOPPER_ID': 5, 'BATCH_ID': 0}"]}}]}
    path = tmp_path / "step.ipynb"
    path.write_text(json.dumps({"cells": [cell]}), encoding="utf-8")
    assert runner._reported_ids(path) == {"USER_ID": "c-1", "SHOPPER_ID": 5}


def test_a_failure_is_one_sentence_with_the_step_cell_and_cause() -> None:
    error = {"name": "AuthenticationError", "cell": 4,
             "message": "401 Invalid client credentials for sekret-123\nmore lines"}
    sentence = runner._describe_failure("01_setup", error, "http://x", ["sekret-123"])
    assert sentence == (
        "Step 01_setup failed in cell 4: the server refused the credentials (check "
        "CONNECT_CLIENT_ID and CONNECT_CLIENT_SECRET) (AuthenticationError: 401 Invalid client "
        "credentials for **********)."
    )


def finished(status: str, *steps: runner.StepResult, problems: tuple[str, ...] = ()) -> list[str]:
    result = runner.RunResult(run_id="r", folder=Path("outputs/r"), server="embedded",
                              steps=list(steps), problems=list(problems), status=status,
                              transcript={"written": True})
    return runner.format_event(runner.RunFinished(result))


def test_the_header_counts_steps_in_words(tmp_path: Path) -> None:
    plan = runner.plan_run(out=tmp_path, only=["01"])
    assert runner.format_event(runner.RunStarted(plan)) == [
        f"shopper-chat run {plan.run_id}: 1 step against an embedded development server "
        "(seed 7, clock 2026-01-15T17:00:00Z)"]
    three = runner.format_event(runner.RunStarted(runner.plan_run(out=tmp_path, only=["05"])))
    assert ": 3 steps against" in three[0]
    assert three[1] == (
        "(01_setup and 02_simulate_shopping run first: 05_send_message needs an order from "
        "them; to use an existing one, pass -p USER_ID=... -p ORDER_ID=...)")


def test_the_run_ends_with_one_sentence_per_failure() -> None:
    sentence = "Step 06_mark_read failed in cell 4: the server failed (ServerError: boom)."
    lines = finished(
        "failed",
        runner.StepResult("05_send_message", status="passed", duration_s=1.0),
        runner.StepResult("06_mark_read", status="failed", error={"name": "ServerError"}),
        problems=(sentence,),
    )
    assert lines == ["run FAILED: 1 passed, 1 failed, 0 skipped; wrote outputs/r", sentence]
    step = runner.format_event(runner.StepFinished(
        runner.StepResult("06_mark_read", status="failed", duration_s=1.25,
                          error={"name": "ServerError"}), width=14))
    assert step == ["06_mark_read.. failed   1.2 s  (ServerError)"]


def test_an_interrupted_run_says_which_step_and_what_was_not_run() -> None:
    lines = finished(
        "interrupted",
        runner.StepResult("01_setup", status="passed"),
        runner.StepResult("02_simulate_shopping", status="interrupted"),
        runner.StepResult("03_shopper_message", status="not run"),
    )
    assert lines == [
        "run interrupted during 02_simulate_shopping: 1 passed, 0 failed, 0 skipped, 1 not run; "
        "wrote outputs/r (outputs/latest left as it was)"
    ]


def test_ctrl_c_during_a_step_is_written_as_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without kernels: the second notebook "runs" until Ctrl-C (with kernels and a real SIGINT:
    test_shopper_chat_run.py)."""
    calls: list[str] = []

    def fake(source: Path, *args: object) -> None:
        calls.append(source.stem)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(runner, "_execute", fake)
    previous = tmp_path / "previous"
    previous.mkdir()
    (tmp_path / "latest").symlink_to("previous")
    plan = runner.plan_run(out=tmp_path, only=["01", "02", "05"])
    events: list[runner.Event] = []
    with pytest.raises(runner.RunInterrupted) as caught:
        runner.execute(plan, events.append)
    summary = json.loads((plan.folder / "summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "interrupted" and summary["finished_at"]
    assert [(s["step"], s["status"]) for s in summary["steps"]] == [
        ("01_setup", "passed"), ("02_simulate_shopping", "interrupted"),
        ("05_send_message", "not run")]
    assert summary["steps"][2]["reason"] == "the run was interrupted"
    assert (tmp_path / "latest").resolve() == previous.resolve()  # not the interrupted run
    assert caught.value.result.status == "interrupted" and caught.value.result.latest is None
    assert isinstance(events[-1], runner.RunFinished)


def test_a_summary_says_running_until_the_run_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[dict[str, object]] = []
    plan = runner.plan_run(out=tmp_path, only=["01", "02"])

    def fake(source: Path, *args: object) -> None:
        seen.append(json.loads((plan.folder / "summary.json").read_text(encoding="utf-8")))

    monkeypatch.setattr(runner, "_execute", fake)
    result = runner.execute(plan)
    assert [s["status"] for s in seen] == ["running", "running"]
    assert [st["status"] for st in seen[1]["steps"]] == ["passed", "pending"]  # type: ignore[index]
    assert result.status == "passed" and result.latest == tmp_path / "latest"
