"""Nightly smoke runs of the chat tutorial in Apache Airflow (2.x), two ways.

`shopper_chat_smoke` runs the same command as cron and CI, `shopper-chat run`, in one task.
`shopper_chat_smoke_papermill` makes each step notebook its own task with the papermill provider's
`PapermillOperator` (`pip install apache-airflow-providers-papermill`), so that a failed step shows
in the Airflow UI and can be retried on its own.

Secrets come from the worker's environment: set CONNECT_BASE_URL, CONNECT_CLIENT_ID and
CONNECT_CLIENT_SECRET there (or in a secrets backend that exports them). The kernels inherit them;
nothing secret is a notebook parameter, so nothing secret lands in the executed notebooks.
The customer and order ids carry the run's timestamp, so nightly runs never collide on the server.
The worker's Python needs the package (`pip install -e /srv/shopper-chat`): the PapermillOperator's
kernel imports `shopper_chat`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow import DAG
from airflow.operators.bash import BashOperator
from airflow.providers.papermill.operators.papermill import PapermillOperator

PROJECT = "/srv/shopper-chat"  # a checkout with `make install` done (its .venv holds the package)
RUNS = "/var/lib/shopper-chat/runs"
DEFAULTS = {"retries": 0, "execution_timeout": timedelta(minutes=30)}

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
        task = PapermillOperator(
            task_id=step,
            input_nb=f"{PROJECT}/notebooks/{step}.ipynb",
            output_nb=f"{RUNS}/{{{{ ts_nodash }}}}-airflow/{step}.ipynb",
            parameters=ids,
            kernel_name="python3",
        )
        if previous is not None:
            previous >> task
        previous = task
