"""The README's Airflow DAG, for real: `airflow dags test` (Apache Airflow 3, in `.airflow-venv`,
made by `make airflow`, which `make test` runs first) maps one task per scenario, each a
`shopper-chat run --scenario X` against its embedded development server, and each keeps its run
folder with the transcript."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from examples_support import ROOT
from shopper_chat.devserver.scenarios import BUILT_IN

AIRFLOW_VENV = ROOT / ".airflow-venv"
DAG_FILE = ROOT / "examples" / "airflow_dag.py"
# Four steps per scenario keep the test short (`dags test` runs the mapped tasks one at a time);
# the chain still makes the order, starts shopping, waits for the greeting and answers it.
CONF = {"only": "01 02 03 05"}


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONNECT_", "AIRFLOW"))}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(DAG_FILE.parent),
        SHOPPER_CHAT_PROJECT=str(ROOT),
        SHOPPER_CHAT_RUNS=str(home / "runs"),
    )
    return env


def _airflow(name: str) -> Path:
    path = AIRFLOW_VENV / "bin" / name
    if not path.exists():
        pytest.fail(f"Apache Airflow is not installed in {AIRFLOW_VENV}: run `make airflow` "
                    "(`make test` does it first).", pytrace=False)
    return path


@pytest.fixture(scope="module")
def dag_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    airflow = _airflow("airflow")
    home = tmp_path_factory.mktemp("airflow")
    env = _env(home)
    migrate = subprocess.run([str(airflow), "db", "migrate"], env=env, cwd=home,
                             capture_output=True, text=True, timeout=300)  # fmt: skip
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    done = subprocess.run(
        [str(airflow), "dags", "test", "shopper_chat_scenarios", "-f", str(DAG_FILE),
         "-c", json.dumps(CONF)],
        env=env, cwd=home, capture_output=True, text=True, timeout=600,
    )
    log = done.stdout[-4000:] + done.stderr[-4000:]
    assert done.returncode == 0, log
    # What Airflow itself recorded about the run, from its metadata database (sqlite).
    db = sqlite3.connect(home / "airflow.db")
    try:
        runs = db.execute("SELECT state FROM dag_run WHERE dag_id = 'shopper_chat_scenarios'")
        states = [r[0] for r in runs]
        tasks = db.execute(
            "SELECT task_id, map_index, state, rendered_map_index FROM task_instance "
            "WHERE dag_id = 'shopper_chat_scenarios'").fetchall()
        xcoms = db.execute(
            "SELECT map_index, value FROM xcom WHERE dag_id = 'shopper_chat_scenarios' "
            "AND task_id = 'scenario' AND key = 'return_value'").fetchall()
    finally:
        db.close()
    yield {"runs": states, "tasks": tasks, "xcoms": dict(xcoms), "log": log, "home": home}


def test_every_mapped_task_succeeded_one_per_scenario(dag_run: dict[str, Any]) -> None:
    assert dag_run["runs"] == ["success"], dag_run["log"]
    mapped = [t for t in dag_run["tasks"] if t[0] == "scenario"]
    assert sorted(t[1] for t in mapped) == list(range(len(BUILT_IN)))
    assert all(t[2] == "success" for t in mapped), mapped
    assert sorted(t[3] for t in mapped) == sorted(BUILT_IN)  # named by scenario in the UI


def test_each_task_kept_its_run_folder_with_the_transcript(dag_run: dict[str, Any]) -> None:
    assert len(dag_run["xcoms"]) == len(BUILT_IN)
    for value in dag_run["xcoms"].values():
        folder = Path(json.loads(value))  # the task's XCom: its run folder
        assert folder.is_relative_to(dag_run["home"] / "runs")
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        assert summary["status"] == "passed", summary["problems"]
        assert folder.parent.name == summary["scenario"]["name"]
        transcript = (folder / "transcript.md").read_text(encoding="utf-8")
        assert "(customer)" in transcript and "(shopper)" in transcript


def test_the_file_defines_the_three_dags_under_airflow_3(tmp_path: Path) -> None:
    code = ("import runpy; g = runpy.run_path('examples/airflow_dag.py'); print(sorted(d.dag_id "
            "for d in (g['scenarios_dag'], g['smoke'], g['smoke_papermill'])))")
    done = subprocess.run([str(_airflow("python")), "-c", code], cwd=ROOT, env=_env(tmp_path),
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == (
        "['shopper_chat_scenarios', 'shopper_chat_smoke', 'shopper_chat_smoke_papermill']")
