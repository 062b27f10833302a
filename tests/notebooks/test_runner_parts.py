"""The runner's small parts, without kernels: step selection, id parameters, failure sentences."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from notebook_runs import NOTEBOOKS
from shopper_chat import runner


def test_steps_are_chosen_by_number_or_name_in_chain_order() -> None:
    steps = runner.select_steps(NOTEBOOKS, ["05", "1", "02_simulate_shopping"])
    assert [s.name for s in steps] == ["01_setup", "02_simulate_shopping", "05_send_message"]
    every = [s.name for s in runner.select_steps(NOTEBOOKS, None)]
    assert every[:6] == [f"0{i}_{n}" for i, n in enumerate(
        ["setup", "simulate_shopping", "shopper_message", "retrieve_messages", "send_message",
         "mark_read"], start=1)]


def test_the_panel_step_runs_only_when_its_notebook_exists(tmp_path: Path) -> None:
    assert "07_chat_panel" not in [s.name for s in runner.select_steps(tmp_path, None)]


def test_an_unknown_step_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown step '9'"):
        runner.select_steps(NOTEBOOKS, ["9"])


def test_only_ids_are_parameters() -> None:
    assert runner.parse_params(["ORDER_ID=order-1", "BATCH_ID=12"]) == {
        "ORDER_ID": "order-1", "BATCH_ID": 12
    }
    for bad in ("CONNECT_CLIENT_SECRET=x", "ORDER_ID", "order_id=x", "ORDER_ID="):
        with pytest.raises(ValueError, match="only ids are parameters") as caught:
            runner.parse_params([bad])
        assert "=x" not in str(caught.value)


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
