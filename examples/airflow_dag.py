"""Smoke runs of the chat tutorial in Apache Airflow (3.x): a scenario matrix, and two nightly DAGs.

`shopper_chat_scenarios` maps one task per scenario of the development server's scripted shopper
(dynamic task mapping: `.expand()` over the list in the run's `scenarios` parameter). Each task
runs `shopper-chat run --scenario X` into its own folder, `<RUNS>/<scenario>/<run id>/` (executed
notebooks, transcript, summary.json), which it keeps; the folder's path is the task's XCom. The
scenarios need the development server: each task starts an embedded one (no CONNECT_BASE_URL on
the worker), or they share a `shopper-chat serve` that CONNECT_BASE_URL names.

`shopper_chat_smoke` runs the same command as cron and CI against your Instacart development
server, in one task. `shopper_chat_smoke_papermill` makes each step notebook its own task with the
papermill provider's `PapermillOperator` (`pip install apache-airflow-providers-papermill`), so
that a failed step shows in the Airflow UI and can be retried on its own.

Nothing here depends on the executor: every task is a shell command on a worker that has the
project (SHOPPER_CHAT_PROJECT, `make install` done) and writes to SHOPPER_CHAT_RUNS, so the same
file runs on the LocalExecutor, a CeleryExecutor or the KubernetesExecutor (see the README).
Secrets come from the worker's environment: CONNECT_BASE_URL, CONNECT_CLIENT_ID and
CONNECT_CLIENT_SECRET (or a secrets backend that exports them). The kernels inherit them; nothing
secret is a notebook parameter, so nothing secret lands in the executed notebooks.
"""

from __future__ import annotations

import os
import shlex
from datetime import datetime, timedelta

from airflow.providers.papermill.operators.papermill import PapermillOperator
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, Param, task

PROJECT = os.environ.get("SHOPPER_CHAT_PROJECT", "/srv/shopper-chat")
"""A checkout with `make install` done (its .venv holds the package and `shopper-chat`)."""
RUNS = os.environ.get("SHOPPER_CHAT_RUNS", "/var/lib/shopper-chat/runs")
"""Where the run folders are kept (shared storage when the workers are many machines)."""
SCENARIOS = ["tutorial", "replacement", "special-request", "delivery-updates",
             "out-of-stock-refund"]  # fmt: skip
DEFAULTS = {"retries": 0, "execution_timeout": timedelta(minutes=30)}

with DAG(
    dag_id="shopper_chat_scenarios",
    schedule="0 4 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args=DEFAULTS,
    tags=["shopper-chat"],
    params={
        "scenarios": Param(SCENARIOS, type="array", description="one task per scenario"),
        "only": Param("", type="string", description="steps to run, e.g. '01 02 05' (all: '')"),
    },
) as scenarios_dag:

    @task
    def commands(**context: object) -> list[str]:
        """One `shopper-chat run` per scenario of the run's parameters."""
        params = context["params"]
        assert isinstance(params, dict)
        only = f" --only {params['only']}" if str(params.get("only") or "").strip() else ""
        return [
            # Its own --out per scenario: the folder's `latest` link is then this task's run.
            f"cd {shlex.quote(PROJECT)} && .venv/bin/shopper-chat run --scenario {name}{only} "
            f"--out {shlex.quote(f'{RUNS}/{name}')} && readlink -f "
            f"{shlex.quote(f'{RUNS}/{name}/latest')}"
            for name in params["scenarios"]
        ]

    BashOperator.partial(
        task_id="scenario",
        # The UI names each mapped task by its scenario instead of a number.
        map_index_template="{{ task.bash_command.split('--scenario ')[1].split()[0] }}",
    ).expand(bash_command=commands())

with DAG(
    dag_id="shopper_chat_smoke",
    schedule="0 3 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args=DEFAULTS,
    tags=["shopper-chat"],
) as smoke:
    BashOperator(
        task_id="shopper_chat_run",
        # Step 03 waits for a shopper message that nobody types at night: --only leaves it out.
        bash_command=f"cd {PROJECT} && .venv/bin/shopper-chat run --out {RUNS} "
        "--only 01 02 04 05 06",
    )

with DAG(
    dag_id="shopper_chat_smoke_papermill",
    schedule="30 3 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args=DEFAULTS,
    tags=["shopper-chat"],
) as smoke_papermill:
    ids = {"USER_ID": "customer-{{ ts_nodash }}", "ORDER_ID": "order-{{ ts_nodash }}"}
    steps = ["01_setup", "02_simulate_shopping", "04_retrieve_messages", "05_send_message",
             "06_mark_read"]
    previous = None
    for step in steps:
        notebook = PapermillOperator(
            task_id=step,
            input_nb=f"{PROJECT}/notebooks/{step}.ipynb",
            output_nb=f"{RUNS}/{{{{ ts_nodash }}}}-airflow/{step}.ipynb",
            parameters=ids,
            kernel_name="python3",
        )
        if previous is not None:
            previous >> notebook
        previous = notebook
