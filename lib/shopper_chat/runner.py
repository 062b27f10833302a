"""`shopper-chat run`: the tutorial's step notebooks, headless, in a chain, into one run folder.

A run executes `01_setup` ... `06_mark_read` (then `07_chat_panel`, headless, when that notebook
exists) with papermill, each in its own kernel, on the same order: the ids a step reports in its
cell tagged `ids` are passed to the next steps as papermill parameters. Credentials never travel as
parameters: each kernel is started with its own environment (`CONNECT_BASE_URL`,
`CONNECT_CLIENT_ID`, `CONNECT_CLIENT_SECRET`, decided by `shopper_chat._workbench`'s one rule), and
derives the customer's user access token from `USER_ID` itself. This process's own environment is
never changed.

Without a base URL (`--base-url` or `CONNECT_BASE_URL`) the run starts one embedded development
server (fixed seed and clock, so that two runs show the same conversation) and stops it at the end.

`--only` keeps the chain whole: a chosen step whose order comes from an earlier step (`05` needs
the order of `01`, in picking after `02`) gets those steps run first, unless `-p USER_ID=...
-p ORDER_ID=...` names an existing order.

Everything a run writes goes to `<out>/<UTC timestamp>-<short id>/`:

```
01_setup.ipynb ... 06_mark_read.ipynb   the executed notebooks (a failed one up to its error)
transcript.md .html .csv .json          the conversation as the server last returned it
summary.json                            per step: status, duration, ids created, error and cell
```
and `<out>/latest` points at the newest finished run (an interrupted one is left out).
`summary.json` says `"running"` while the run goes on and is rewritten after each step. A failed
step does not end the run: the steps that depend on it are skipped, the transcript of what did
happen is written, and the run ends with one sentence per failure naming the step and the cause.

`--scenario NAME...` (or `all`) runs the chain once per scenario of the development server's
scripted shopper, each into its own run folder, on one server (`--parallel N`: N at once): after
step 01 the order is given its scenario (`PUT /_emulator/orders/{id}/scenario`), the customer's
messages are the scenario's own sample replies (papermill parameters `MESSAGE`, `IMAGE_URL`,
`SEND_MESSAGE`: texts, never secrets), and a scenario that lists `finish` states has its batch
moved through them after the steps (as the Shopper app would), so that a headless run follows
the whole path.

The logic returns results and reports progress as events; `format_event` turns an event into
lines, and `run()` (or the command line) prints them: the one place that prints.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import math
import os
import re
import secrets
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeAlias

from shopper_chat._workbench import Connection, resolve_connection
from shopper_chat.client.errors import ConfigurationError

if TYPE_CHECKING:
    from shopper_chat._kernels import KernelPool

__all__ = [
    "STEPS",
    "OptionError",
    "Plan",
    "RunFinished",
    "RunInterrupted",
    "RunResult",
    "RunStarted",
    "Step",
    "StepFinished",
    "StepResult",
    "add_arguments",
    "execute",
    "execute_scenarios",
    "format_event",
    "main",
    "plan_run",
    "plan_scenarios",
    "run",
    "run_scenarios",
]

DEFAULT_SEED = 7
DEFAULT_CLOCK = "2026-01-15T17:00:00Z"
DEFAULT_TIMEOUT = 600.0
MAX_TIMEOUT = 86400.0
IDS_TAG = "ids"
"""Tag of the cell whose output is the step's ids, a dict literal (`{"ORDER_ID": "...", ...}`)."""
# On the embedded server's frozen clock, whatever the scripted shopper has to say is there at the
# first poll (its actions run at the next request; only a moved clock makes more due), so a step
# declaring `POLL_SECONDS` polls once rather than for its default window (kept on a real clock).
FROZEN_CLOCK_POLL_SECONDS = 0.1
CONNECT_ENV = ("CONNECT_BASE_URL", "CONNECT_CLIENT_ID", "CONNECT_CLIENT_SECRET",
               "CONNECT_USER_TOKEN")
ORDER_IDS = ("USER_ID", "ORDER_ID")
"""The ids that name an existing order: with both given, `--only` adds no earlier steps."""


class OptionError(ValueError):
    """A bad option: one sentence, raised before any run folder exists (exit status 2)."""


@dataclass(frozen=True)
class Step:
    """One notebook of the chain."""

    name: str
    """The notebook's file name without `.ipynb`, e.g. `01_setup`."""
    after: tuple[str, ...] = ()
    """Steps that make what this one needs (it is skipped when they fail, and `--only` runs
    them first unless `-p USER_ID=... -p ORDER_ID=...` names an existing order)."""
    optional: bool = False
    """Run only when the notebook exists."""

    @property
    def number(self) -> str:
        return self.name.split("_", 1)[0]


STEPS: tuple[Step, ...] = (
    Step("01_setup"),
    Step("02_simulate_shopping", after=("01_setup",)),
    Step("03_shopper_message", after=("02_simulate_shopping",)),
    Step("04_retrieve_messages", after=("02_simulate_shopping",)),
    Step("05_send_message", after=("02_simulate_shopping",)),
    Step("06_mark_read", after=("02_simulate_shopping",)),
    Step("07_chat_panel", after=("02_simulate_shopping",), optional=True),
)

# Why a step failed, in words, by the name of the exception the notebook raised.
_CAUSES: Mapping[str, str] = {
    "APIConnectionError": "could not reach the server at {base_url}",
    "APITimeoutError": "the server at {base_url} did not answer in time",
    "AuthenticationError": (
        "the server refused the credentials (check CONNECT_CLIENT_ID and CONNECT_CLIENT_SECRET)"
    ),
    "NotFoundError": "the server does not know that order or user",
    "UserNotFoundError": "the server does not know that user",
    "ChatNotAllowedError": "the server does not allow chat on that order now",
    "PermissionDeniedError": "the server did not allow the request",
    "InvalidParameterError": "the server rejected a parameter",
    "RateLimitError": "the server kept rate limiting the requests",
    "ServerError": "the server failed",
    "ResponseShapeError": "the server answered in an unexpected shape",
    "ConfigurationError": "the connection settings are incomplete",
    "WaitTimeout": "nothing arrived in time",
    "TimeoutError": "nothing arrived in time",
    "CellTimeoutError": "a cell ran longer than the --timeout",
    "DeadKernelError": "the notebook's kernel died",
}
# Errors after which the server is unreachable: later steps are skipped rather than retried.
_UNREACHABLE = frozenset({"APIConnectionError", "APITimeoutError"})


@dataclass
class StepResult:
    """What one step did (one entry of summary.json)."""

    step: str
    status: str = "pending"  # "passed" | "failed" | "skipped" | "interrupted" | "not run"
    duration_s: float = 0.0
    notebook: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    ids_created: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "status": self.status,
            "duration_s": round(self.duration_s, 2),
            "notebook": self.notebook,
            "parameters": self.parameters,
            "ids_created": self.ids_created,
            "error": self.error,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Plan:
    """A checked run, before anything is started or written (see `plan_run`)."""

    run_id: str
    out: Path
    source_dir: Path
    steps: tuple[Step, ...]
    added: tuple[str, ...]
    """Steps run first because a chosen step needs them (`--only 05` adds 01 and 02)."""
    connection: Connection
    params: Mapping[str, Any]
    timeout: float
    seed: int
    clock: str | None
    scenario: str | None = None
    """The scripted shopper's scenario for the run's order (`--scenario`), or None: the server's."""
    scenario_params: Mapping[str, Any] = field(default_factory=dict)
    """The customer's messages from the scenario's sample replies (`MESSAGE`, `SEND_MESSAGE`...)."""
    finish: tuple[str, ...] = ()
    """Batch states to move the order through after the steps (the scenario's `finish`)."""
    shared_embedded: bool = False
    """`connection.base_url` is an embedded server started for several scenario runs."""
    kernels_ahead: int = 2
    """Kernels booting while a step runs (see `shopper_chat._kernels`): one when runs go side by
    side (`--parallel`), which overlap their kernels already."""

    @property
    def folder(self) -> Path:
        return self.out / self.run_id

    @property
    def server(self) -> str:
        """What summary.json calls the server: its base URL or `embedded`."""
        return self.connection.base_url or "embedded"

    @property
    def embedded(self) -> bool:
        """The run's server is a development server started for it (alone or shared)."""
        return self.connection.embedded or self.shared_embedded


@dataclass
class RunResult:
    """A whole run: its folder, its steps and the ids they made."""

    run_id: str
    folder: Path
    server: str
    steps: list[StepResult] = field(default_factory=list)
    ids: dict[str, Any] = field(default_factory=dict)
    transcript: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    scenario: dict[str, Any] = field(default_factory=dict)
    """The scenario the order followed, the parameters it gave, and the `finish` states reached."""
    status: str = "running"  # then "passed" | "failed" | "interrupted"
    latest: Path | None = None
    """`<out>/latest` when it was pointed at this run (finished runs only)."""

    @property
    def ok(self) -> bool:
        return self.status == "passed"


# -- events: what the run reports while it goes; `format_event` words them ------------------------
@dataclass(frozen=True)
class RunStarted:
    plan: Plan


@dataclass(frozen=True)
class StepFinished:
    result: StepResult
    width: int
    """Width of the step column, so that the lines of one run line up."""


@dataclass(frozen=True)
class RunFinished:
    result: RunResult


Event: TypeAlias = RunStarted | StepFinished | RunFinished


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run, raised once the run folder says so (`.result`)."""

    def __init__(self, result: RunResult) -> None:
        super().__init__("the run was interrupted")
        self.result = result


# -- options ------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `shopper-chat run`."""
    parser.add_argument(
        "--base-url",
        default=None,
        help="Connect server to run against (default: CONNECT_BASE_URL; without either, an "
        "embedded development server is started for the run). Credentials come from "
        "CONNECT_CLIENT_ID / CONNECT_CLIENT_SECRET (without them: the development server's "
        "local ones).",
    )
    parser.add_argument(
        "--out", default="outputs", help="folder for run folders (default: outputs)"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="STEP",
        default=None,
        help="run only these steps, by number or name (e.g. --only 01 02 05); the earlier steps "
        "a chosen one needs run first, unless -p USER_ID=... -p ORDER_ID=... names an order",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help="seconds one notebook cell may run before the step fails (default: 600; step 03 "
        "waits up to 300 s for the shopper on a real server)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help=f"id seed of the embedded development server (default: {DEFAULT_SEED})",
    )
    parser.add_argument(
        "--clock",
        default=DEFAULT_CLOCK,
        help="frozen start time of the embedded development server, ISO 8601; '' for real "
        f"time (default: {DEFAULT_CLOCK})",
    )
    parser.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="start the chain from existing ids, e.g. -p USER_ID=customer-1 -p ORDER_ID=order-1 "
        "--only 03 04 05 06 (ids only: credentials always come from the environment)",
    )
    parser.add_argument(
        "--scenario",
        nargs="+",
        metavar="NAME",
        default=None,
        help="run the chain once per scenario of the scripted shopper (tutorial, replacement, "
        "special-request, delivery-updates, out-of-stock-refund, or all), each into its own run "
        "folder; the customer's messages are the scenario's sample replies",
    )
    parser.add_argument(
        "--parallel",
        type=int,
        default=1,
        metavar="N",
        help="with --scenario: run N scenarios at once, against one server (default: 1)",
    )
    parser.add_argument(
        "--notebooks",
        default=None,
        help="folder holding the step notebooks (default: the project's notebooks/)",
    )


def default_notebooks_dir() -> Path:
    """The project's `notebooks/` folder (this file is `lib/shopper_chat/runner.py`)."""
    here = Path(__file__).resolve().parents[2] / "notebooks"
    return here if here.is_dir() else Path.cwd() / "notebooks"


def select_steps(notebooks: Path, only: Sequence[str] | None) -> list[Step]:
    """The steps to run, in order; `only` names them by number (`05`, `5`) or name."""
    available = [s for s in STEPS if not s.optional or (notebooks / f"{s.name}.ipynb").exists()]
    if not only:
        return available
    wanted: list[Step] = []
    for token in only:
        key = token.removesuffix(".ipynb")
        match = [
            s
            for s in STEPS
            if key in (s.name, s.number) or (key.isdigit() and int(key) == int(s.number))
        ]
        if not match:
            names = ", ".join(s.name for s in STEPS)
            raise OptionError(f"unknown step {token!r}: choose among {names}")
        wanted.extend(m for m in match if m not in wanted)
    return [s for s in STEPS if s in wanted]


def with_prerequisites(steps: Sequence[Step], params: Mapping[str, Any]) -> list[Step]:
    """`steps` and the earlier steps they need, in chain order.

    Nothing is added when `params` names an existing order (`USER_ID` and `ORDER_ID`): the
    chosen steps then work on that order.
    """
    if all(params.get(name) for name in ORDER_IDS):
        return list(steps)
    by_name = {s.name: s for s in STEPS}
    needed = {s.name for s in steps}
    todo = list(steps)
    while todo:
        for name in todo.pop().after:
            if name not in needed:
                needed.add(name)
                todo.append(by_name[name])
    return [s for s in STEPS if s.name in needed]


def new_run_id(now: datetime | None = None) -> str:
    """`<UTC timestamp>-<short random id>`, unique per run and sorting by time."""
    moment = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    return f"{moment}-{secrets.token_hex(3)}"


def run_ids(run_id: str) -> dict[str, str]:
    """The customer and order ids of a run: unique per run, so runs never collide on a server."""
    short = run_id.rsplit("-", 1)[-1]
    return {"USER_ID": f"customer-{short}", "ORDER_ID": f"order-{short}"}


def parse_params(items: Sequence[str]) -> dict[str, str]:
    """`NAME=VALUE` pairs as given to `-p` (`plan_run` checks that each is an id a step takes)."""
    params: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or not value:
            raise OptionError(  # the value is not repeated: it might be a secret given by mistake
                f"bad -p {name or '(no name)'}: give an id as NAME=VALUE, e.g. -p ORDER_ID=order-1"
            )
        params[name] = value
    return params


def _notebook_parameters(path: Path) -> dict[str, str]:
    """The notebook's parameters and their declared types (`str`, `int`, ...)."""
    import papermill

    return {
        name: str(info.get("inferred_type_name") or "")
        for name, info in papermill.inspect_notebook(str(path)).items()
    }


def _check_params(
    params: Mapping[str, Any], steps: Sequence[Step], declared: Mapping[str, Mapping[str, str]]
) -> dict[str, Any]:
    """The `-p` ids with the types the notebooks declare; each one a step of the run takes."""
    import difflib

    takes: dict[str, str] = {}
    for step in steps:
        for name, kind in declared[step.name].items():
            if name.endswith("_ID"):  # ids only: never a secret, never a setting
                takes.setdefault(name, kind)
    checked: dict[str, Any] = {}
    for name, value in params.items():
        if name not in takes:
            close = difflib.get_close_matches(name.upper(), list(takes), n=1)
            hint = f"; the closest is {close[0]}" if close else ""
            raise OptionError(
                f"-p {name}: not an id a step of this run takes (they take "
                f"{_names(list(takes)) if takes else 'none'}{hint})"
            )
        if takes[name] == "int":
            if not (isinstance(value, int) or str(value).isdigit()):
                raise OptionError(f"-p {name}: must be a whole number")
            value = int(value)
        checked[name] = value
    return checked


def _check_clock(clock: str | None) -> str | None:
    from shopper_chat._time import parse_time

    if not clock:
        return None
    try:
        parse_time(clock)
    except ValueError:
        raise OptionError(
            f"--clock must be an ISO 8601 time such as {DEFAULT_CLOCK}, or '' for real time, "
            f"not {clock!r}"
        ) from None
    return clock


def _check_timeout(timeout: float) -> float:
    if not (isinstance(timeout, (int, float)) and math.isfinite(timeout)
            and 0 < timeout <= MAX_TIMEOUT):
        raise OptionError(
            f"--timeout must be a number of seconds above 0 and at most {MAX_TIMEOUT:.0f}, "
            f"not {timeout:g}"
        )
    return float(timeout)


def plan_run(
    *,
    base_url: str | None = None,
    out: str | os.PathLike[str] = "outputs",
    only: Sequence[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    seed: int = DEFAULT_SEED,
    clock: str | None = DEFAULT_CLOCK,
    notebooks: str | os.PathLike[str] | None = None,
    params: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Plan:
    """Check every option and decide what the run will do; nothing is started or written.

    Raises `OptionError` (one sentence) for anything a run could not do.
    """
    timeout = _check_timeout(timeout)
    clock = _check_clock(clock)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise OptionError(f"--seed must be a whole number, 0 or more, not {seed!r}")
    try:
        connection = resolve_connection(base_url, environ=environ, base_url_label="--base-url")
    except ConfigurationError as exc:
        raise OptionError(str(exc)) from None
    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise OptionError(f"--out {out_dir} is a file, not a folder")
    source_dir = Path(notebooks) if notebooks else default_notebooks_dir()
    given = dict(params or {})
    chosen = select_steps(source_dir, only)
    if "ORDER_ID" in given and "USER_ID" not in given and chosen[0].name != "01_setup":
        # An existing order without its customer: the chat needs the customer's token, and
        # adding step 01 would try to create that order again.
        raise OptionError(
            "-p ORDER_ID needs -p USER_ID too: the order's customer, whose token reads its chat"
        )
    steps = with_prerequisites(chosen, given) if only else chosen
    missing = [s.name for s in steps if not (source_dir / f"{s.name}.ipynb").is_file()]
    if missing:
        raise OptionError(f"no notebook {missing[0]}.ipynb in {source_dir}")
    if given:  # (reading the notebooks' parameters imports papermill: only when there is a need)
        declared = {s.name: _notebook_parameters(source_dir / f"{s.name}.ipynb") for s in steps}
        given = _check_params(given, steps, declared)
    return Plan(
        run_id=new_run_id(),
        out=out_dir,
        source_dir=source_dir,
        steps=tuple(steps),
        added=tuple(s.name for s in steps if s not in chosen),
        connection=connection,
        params=given,
        timeout=timeout,
        seed=seed,
        clock=clock,
    )


def scenario_names(chosen: Sequence[str]) -> list[str]:
    """The built-in scenarios `--scenario` names (`all`: every one), in the order given."""
    from shopper_chat.devserver.scenarios import BUILT_IN

    names: list[str] = []
    for name in chosen:
        wanted = list(BUILT_IN) if name == "all" else [name]
        for one in wanted:
            if one not in BUILT_IN:
                import difflib

                close = difflib.get_close_matches(one, BUILT_IN, n=1)
                hint = f"; the closest is {close[0]}" if close else ""
                raise OptionError(f"--scenario {one}: not a scenario (choose among "
                                  f"{_names(list(BUILT_IN))}, or all{hint})")
            if one not in names:
                names.append(one)
    return names


def scenario_parameters(name: str) -> tuple[dict[str, str], tuple[str, ...]]:
    """The notebooks' customer parameters from a scenario's sample replies (the first is step
    05's `MESSAGE` and `IMAGE_URL`, the second the panel's `SEND_MESSAGE`), and its `finish`."""
    from shopper_chat.devserver.scenarios import built_in_scenarios

    scenario = built_in_scenarios()[name]
    samples = scenario.customer
    params: dict[str, str] = {}
    if samples:
        params.update(MESSAGE=samples[0].body, IMAGE_URL=samples[0].image_url)
    params["SEND_MESSAGE"] = samples[1].body if len(samples) > 1 else ""
    return params, scenario.finish


def plan_scenarios(scenarios: Sequence[str], *, parallel: int = 1,
                   **options: Any) -> list[Plan]:  # fmt: skip
    """One checked plan per scenario (see `plan_run` for `options`); nothing is started."""
    if isinstance(parallel, bool) or not isinstance(parallel, int) or parallel < 1:
        raise OptionError(f"--parallel must be a whole number, 1 or more, not {parallel!r}")
    names = scenario_names(scenarios)
    base = plan_run(**options)
    plans = []
    for name in names:
        params, finish = scenario_parameters(name)
        plans.append(replace(base, run_id=new_run_id(), scenario=name, scenario_params=params,
                             finish=finish))  # fmt: skip
    return plans


# -- the kernels --------------------------------------------------------------------------------
def kernel_environment(
    connection: Connection, server_url: str, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment each step's kernel starts with: this one, with the run's Connect settings.

    The kernels' own `connect()` then reaches the same decision as the runner: this server, these
    credentials. A user access token is passed on only to a real server without credentials (the
    embedded server never issued it).
    """
    source = os.environ if environ is None else environ
    env = {k: v for k, v in source.items() if k not in CONNECT_ENV}
    env["CONNECT_BASE_URL"] = server_url
    if connection.client_secret is not None:
        env["CONNECT_CLIENT_ID"] = connection.client_id
        env["CONNECT_CLIENT_SECRET"] = connection.client_secret.get_secret_value()
    elif source.get("CONNECT_USER_TOKEN"):
        env["CONNECT_USER_TOKEN"] = source["CONNECT_USER_TOKEN"]
    return env


def _reported_ids(notebook_path: Path) -> dict[str, Any]:
    """The dict a step shows in its cell tagged `ids` (empty when the cell did not run)."""
    nb = json.loads(notebook_path.read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code" or IDS_TAG not in cell.get("metadata", {}).get(
            "tags", []
        ):
            continue
        for output in cell.get("outputs", []):
            text = output.get("data", {}).get("text/plain")
            if text is None:
                continue
            text = "".join(text) if isinstance(text, list) else text
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                continue
            if isinstance(value, dict):
                return {str(k): v for k, v in value.items() if v not in ("", None, 0)}
    return {}


def _scrub(text: str, secret_values: Sequence[str]) -> str:
    for value in secret_values:
        if value and len(value) >= 4:
            text = text.replace(value, "**********")
    return text


def _describe_failure(
    step: str, error: dict[str, Any], base_url: str, secret_values: Sequence[str]
) -> str:
    """One sentence: which step, where, and why."""
    name = str(error.get("name") or "Error")
    cause = _CAUSES.get(name, "it raised an error").format(base_url=base_url)
    lines = str(error.get("message") or "").strip().splitlines()
    detail = _scrub(lines[0] if lines else "", secret_values)
    if len(detail) > 200:
        detail = detail[:197] + "..."
    where = f" in cell {error['cell']}" if error.get("cell") is not None else ""
    return f"Step {step} failed{where}: {cause} ({name}: {detail or 'no message'})."


def _execute(
    source: Path, target: Path, parameters: dict[str, Any], timeout: float, kernels: KernelPool
) -> dict[str, Any] | None:
    """Run one notebook with papermill; None when it passed, else the error's name/message/cell."""
    from papermill.exceptions import PapermillExecutionError

    from shopper_chat._kernels import execute_notebook

    try:
        execute_notebook(
            source,
            target,
            kernels,
            parameters=parameters,
            progress_bar=False,
            log_output=False,
            execution_timeout=timeout,
            # written once, when the notebook ends (passed, failed or interrupted), not after
            # every cell: nobody watches a headless step's notebook fill
            request_save_on_cell_execute=False,
        )
    except PapermillExecutionError as exc:
        lines = (exc.source or "").strip().splitlines()
        return {
            "name": exc.ename,
            "message": str(exc.evalue),
            "cell": exc.exec_count,
            "cell_index": exc.cell_index,
            "cell_source_first_line": lines[0] if lines else "",
        }
    except Exception as exc:  # the kernel died, a cell timed out, the notebook was unreadable
        return {"name": type(exc).__name__, "message": str(exc), "cell": None, "cell_index": None}
    return None


class _Conversation:
    """The runner's own view of the conversation, refreshed after each step.

    Kept in memory so that a server stopping mid-run still leaves the transcript of what had
    happened up to then.
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self.messages: Any = None
        self.fetched_for: tuple[str, str] | None = None
        self.last_error: str | None = None

    def refresh(self, ids: Mapping[str, Any]) -> None:
        order_id, user_id = ids.get("ORDER_ID"), ids.get("USER_ID")
        if not order_id or not user_id:
            return
        try:
            self.client.set_user(str(user_id))
            self.messages = self.client.chat.messages(str(order_id))
            self.fetched_for = (str(user_id), str(order_id))
            self.last_error = None
        except Exception as exc:  # keep the last good copy; say why in summary.json
            self.last_error = f"{type(exc).__name__}: {exc}"


def _open_client(plan: Plan) -> Any:
    """The runner's client: the plan's server and credentials (starting the embedded server)."""
    import shopper_chat

    connection = plan.connection
    return shopper_chat.connect(
        seed=plan.seed,
        clock=plan.clock,
        base_url=connection.base_url,
        client_id=connection.client_id,
        client_secret=connection.client_secret,
        max_retry_seconds=5.0,
    )


def _point_latest(out: Path, folder: Path) -> Path:
    latest = out / "latest"
    tmp = out / f".latest-{folder.name}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.symlink_to(folder.name, target_is_directory=True)
    os.replace(tmp, latest)
    return latest


# -- the run ------------------------------------------------------------------------------------
def execute(
    plan: Plan,
    on_event: Callable[[Event], None] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> RunResult:
    """Run a plan and write its run folder; a failed step is reported, never raised.

    Ctrl-C ends the run early: the summary says `"status": "interrupted"` (the step that was
    running `interrupted`, the others `not run`), `latest` is left alone, and `RunInterrupted`
    (a `KeyboardInterrupt` holding the result) is raised.
    """
    report = on_event or (lambda event: None)
    folder = plan.folder
    try:
        folder.mkdir(parents=True, exist_ok=False)
    except OSError as exc:
        raise OptionError(f"cannot make the run folder {folder}: {exc.strerror}") from None
    result = RunResult(run_id=plan.run_id, folder=folder, server=plan.server)
    result.ids.update(run_ids(plan.run_id))
    result.ids.update(plan.params)
    started = datetime.now(timezone.utc)
    secret = plan.connection.client_secret
    secret_values = [secret.get_secret_value()] if secret is not None else []
    report(RunStarted(plan))
    from shopper_chat._kernels import KernelPool

    client: Any = None
    conversation: _Conversation | None = None
    kernels: KernelPool | None = None
    interrupted = False
    try:
        _write_summary(result, plan, started, None, secret_values)
        try:
            client = _open_client(plan)
            conversation = _Conversation(client)
            env = kernel_environment(plan.connection, str(client.base_url), environ)
            kernels = KernelPool(
                env, plan.source_dir, [plan.source_dir / f"{s.name}.ipynb" for s in plan.steps],
                ahead=plan.kernels_ahead,
                # every step but one shows the conversation as a pandas table; this package's
                # modules import without side effects, so as soon as a kernel starts
                preload=("pandas",), packages=("shopper_chat",))
            kernels.start()  # the first kernel boots while this process imports papermill
        except Exception as exc:  # e.g. the embedded server could not start: steps are skipped
            result.problems.append(f"Could not start the run: {type(exc).__name__}: {exc}.")
            if kernels is not None:
                kernels.close()
            kernels = None  # no kernels: every step is skipped
        _run_steps(result, plan, kernels, conversation, secret_values, report, started)
    except KeyboardInterrupt:
        interrupted = True
        for entry in result.steps:
            if entry.status == "pending":
                entry.status, entry.reason = "interrupted", "Ctrl-C while it ran"
        done = {entry.step for entry in result.steps}
        result.steps.extend(
            StepResult(step=s.name, status="not run", reason="the run was interrupted")
            for s in plan.steps
            if s.name not in done
        )
    finally:
        if interrupted:
            result.status = "interrupted"
        elif any(s.status == "failed" for s in result.steps) or result.problems:
            result.status = "failed"
        else:
            result.status = "passed"
        _write_transcript(result, conversation, started)
        _write_summary(result, plan, started, datetime.now(timezone.utc), secret_values)
        if not interrupted:
            # `latest` is the newest finished run: an interrupted one is not what to look at.
            result.latest = _point_latest(plan.out, folder)
        if kernels is not None:
            kernels.close()
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
    report(RunFinished(result))
    if interrupted:
        raise RunInterrupted(result)
    return result


def _run_steps(
    result: RunResult,
    plan: Plan,
    kernels: KernelPool | None,
    conversation: _Conversation | None,
    secret_values: Sequence[str],
    report: Callable[[Event], None],
    started: datetime,
) -> None:
    width = max(len(s.name) for s in plan.steps) + 2
    status: dict[str, str] = {}
    unreachable = kernels is None
    reported_before: dict[str, Any] = {}
    chosen = plan.scenario is None
    if not chosen and not unreachable and result.ids.get("ORDER_ID") and "ORDER_ID" in plan.params:
        chosen = _choose_scenario(result, plan, conversation)  # an existing order (-p ORDER_ID)
    for step in plan.steps:
        entry = StepResult(step=step.name)
        result.steps.append(entry)
        blocked = [a for a in step.after if status.get(a) in ("failed", "skipped")]
        if unreachable or blocked:
            entry.status = "skipped"
            entry.reason = (
                f"needs {', '.join(blocked)}" if blocked else "the server could not be reached"
            )
            status[step.name] = "skipped"
            report(StepFinished(entry, width))
            continue
        source = plan.source_dir / f"{step.name}.ipynb"
        target = result.folder / f"{step.name}.ipynb"
        declared = _notebook_parameters(source)
        parameters = {k: v for k, v in result.ids.items() if k in declared}
        parameters.update({k: v for k, v in plan.scenario_params.items() if k in declared})
        if step.name == "07_chat_panel" and "OUTPUT_DIR" in declared:
            parameters["OUTPUT_DIR"] = str((result.folder / step.name).resolve())
        if plan.embedded and plan.clock and "POLL_SECONDS" in declared:
            parameters.setdefault("POLL_SECONDS", FROZEN_CLOCK_POLL_SECONDS)
        entry.parameters = parameters
        entry.notebook = target.name
        assert kernels is not None
        began = time.monotonic()
        try:
            error = _execute(source, target, parameters, plan.timeout, kernels)
        finally:
            entry.duration_s = time.monotonic() - began
            if not target.exists():
                entry.notebook = None
        if error is not None and error.get("name") == "KeyboardInterrupt":
            # Ctrl-C in a terminal reaches the kernel too, which may report it before we see it.
            raise KeyboardInterrupt
        if target.exists():
            reported = _reported_ids(target)
            # New: not reported by an earlier step (step 1 creates the customer and order
            # under the ids the run chose for them).
            entry.ids_created = {
                k: v for k, v in reported.items() if reported_before.get(k) != v
            }
            reported_before.update(reported)
            result.ids.update(reported)
        if conversation is not None and (error is None or error.get("name") not in _UNREACHABLE):
            conversation.refresh(result.ids)
        if error is None:
            entry.status = "passed"
        else:
            error["message"] = _scrub(str(error.get("message", "")), secret_values)
            entry.status = "failed"
            entry.error = error
            result.problems.append(
                _describe_failure(step.name, error, kernels.env["CONNECT_BASE_URL"],
                                  secret_values)
            )
            if error.get("name") in _UNREACHABLE:
                unreachable = True
        status[step.name] = entry.status
        if not chosen and error is None:
            # The order exists now (step 01 made it): the scripted shopper follows the scenario
            # from the moment shopping starts (step 02).
            chosen = _choose_scenario(result, plan, conversation)
            if not chosen:
                entry.status = status[step.name] = "failed"
                entry.error = {"name": "ScenarioError", "message": result.problems[-1],
                               "cell": None}
        report(StepFinished(entry, width))
        _write_summary(result, plan, started, None, secret_values)
    if plan.finish and not unreachable and all(s.status == "passed" for s in result.steps):
        _finish_order(result, plan, conversation)
    if result.scenario and conversation is not None:
        # Where the scenario ended and what it did to the order, as the server says.
        with contextlib.suppress(Exception):
            inside = conversation.client.emulator.order(str(result.ids["ORDER_ID"]))
            result.scenario["state"] = inside["scenario"]["state"]
            result.scenario["items"] = [{"line_num": i.get("line_num"), "status": i.get("status"),
                                         "replacement_item": i.get("replacement_item")}
                                        for i in inside["items"]]  # fmt: skip


def _choose_scenario(result: RunResult, plan: Plan, conversation: _Conversation | None) -> bool:
    """Give the run's order its scenario; False (and a problem) when the server refuses."""
    order_id = result.ids.get("ORDER_ID")
    if conversation is None or not order_id:
        return False
    try:
        conversation.client.emulator.set_scenario(str(order_id), str(plan.scenario))
    except Exception as exc:
        result.problems.append(
            f"Could not choose the scenario {plan.scenario} for order {order_id} (the scripted "
            f"shopper is the development server's): {type(exc).__name__}: {exc}.")
        return False
    result.scenario = {"name": plan.scenario, "params": dict(plan.scenario_params)}
    return True


def _finish_order(result: RunResult, plan: Plan, conversation: _Conversation | None) -> None:
    """Move the batch through the scenario's `finish` states, as the Shopper app would, and keep
    the conversation that follows."""
    batch_id = result.ids.get("BATCH_ID")
    if conversation is None or not batch_id:
        result.problems.append("Could not finish the order: no batch id from step 02.")
        return
    done = []
    try:
        for state in plan.finish:
            conversation.client.sandbox.advance(int(batch_id), state)
            done.append(state)
    except Exception as exc:
        result.problems.append(f"Could not move batch {batch_id} to {state}: "
                               f"{type(exc).__name__}: {exc}.")
    result.scenario["finished"] = done
    conversation.refresh(result.ids)


def _write_transcript(
    result: RunResult, conversation: _Conversation | None, started: datetime
) -> None:
    from shopper_chat import transcripts

    if conversation is None or conversation.messages is None:
        reason = (conversation.last_error if conversation else None) or "no conversation yet"
        result.transcript = {"written": False, "reason": reason}
        return
    frame = transcripts.to_frame(conversation.messages)
    info = transcripts.TranscriptInfo(
        order_id=conversation.fetched_for[1] if conversation.fetched_for else "",
        run_id=result.run_id,
        server=result.server,
        date=started,
    )
    transcripts.write_transcripts(frame, result.folder, info=info)
    result.transcript = {
        "written": True,
        "files": [f"transcript.{suffix}" for suffix in ("md", "html", "csv", "json")],
        "messages": len(frame),
        "user_id": conversation.fetched_for[0] if conversation.fetched_for else None,
        "order_id": conversation.fetched_for[1] if conversation.fetched_for else None,
        "stale_because": conversation.last_error,
    }


def _write_summary(
    result: RunResult,
    plan: Plan,
    started: datetime,
    finished: datetime | None,
    secret_values: Sequence[str],
) -> None:
    """summary.json, rewritten after each step: a run that dies still says how far it got."""
    steps = [s.as_json() for s in result.steps]
    if finished is None:  # still running: the steps to come are listed as pending
        done = {s.step for s in result.steps}
        steps += [StepResult(step=s.name).as_json() for s in plan.steps if s.name not in done]
    embedded = plan.embedded
    summary = {
        "run_id": result.run_id,
        "status": result.status,
        "started_at": _iso(started),
        "finished_at": _iso(finished) if finished else None,
        "duration_s": round(((finished or started) - started).total_seconds(), 2),
        "server": plan.server,
        "dev_seed": plan.seed if embedded else None,
        "dev_clock": plan.clock if embedded else None,
        "credentials": plan.connection.credentials,
        "added_steps": list(plan.added),
        "ids": result.ids,
        "steps": steps,
        "transcript": result.transcript,
        "scenario": result.scenario or None,
        "problems": result.problems,
    }
    text = _scrub(json.dumps(summary, indent=2, default=str), secret_values)
    path = result.folder / "summary.json"
    tmp = path.with_name(".summary.json.tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, path)  # never a half-written summary, even when stopped mid-write


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


# -- words ----------------------------------------------------------------------------------------
def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _names(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def format_event(event: Event) -> list[str]:
    """The lines that tell a person about an event (pure: the caller prints them)."""
    if isinstance(event, RunStarted):
        plan = event.plan
        where = plan.connection.base_url or ""
        if plan.embedded:
            where = (f"an embedded development server (seed {plan.seed}, clock "
                     f"{plan.clock or 'real'})" + (f" at {where}" if where else ""))
        scenario = f" (scenario {plan.scenario})" if plan.scenario else ""
        lines = [f"shopper-chat run {plan.run_id}{scenario}: {_plural(len(plan.steps), 'step')} "
                 f"against {where}"]
        if plan.added:
            chosen = [s.name for s in plan.steps if s.name not in plan.added]
            lines.append(
                f"({_names(plan.added)} {'runs' if len(plan.added) == 1 else 'run'} first: "
                f"{_names(chosen)} {'needs' if len(chosen) == 1 else 'need'} an order from "
                "them; to use an existing one, pass -p USER_ID=... -p ORDER_ID=...)"
            )
        if not plan.embedded and plan.connection.credentials == "local":
            lines.append("(no CONNECT_CLIENT_ID / CONNECT_CLIENT_SECRET in the environment: "
                         "using the development server's local credentials)")
        return lines
    if isinstance(event, StepFinished):
        entry, width = event.result, event.width
        if entry.status == "passed":
            ids = ", ".join(f"{k}={v}" for k, v in entry.ids_created.items())
            line = f"{entry.step:.<{width}} passed {entry.duration_s:5.1f} s"
            return [line + (f"  ({ids})" if ids else "")]
        if entry.status == "failed":
            name = (entry.error or {}).get("name") or "Error"
            return [f"{entry.step:.<{width}} failed {entry.duration_s:5.1f} s  ({name})"]
        return [f"{entry.step:.<{width}} {entry.status} ({entry.reason})"]
    result = event.result
    counts = {k: sum(s.status == k for s in result.steps)
              for k in ("passed", "failed", "skipped", "not run")}
    tally = f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped"
    if result.status == "interrupted":
        running = next((s.step for s in result.steps if s.status == "interrupted"), None)
        where = f" during {running}" if running else ""
        return [
            f"run interrupted{where}: {tally}, {counts['not run']} not run; wrote "
            f"{result.folder} ({result.folder.parent / 'latest'} left as it was)",
            *result.problems,
        ]
    lines = []
    if not result.transcript.get("written", True):
        lines.append(f"no transcript: {result.transcript.get('reason')}")
    verdict = "passed" if result.ok else "FAILED"
    lines.append(f"run {verdict}: {tally}; wrote {result.folder}")
    return lines + result.problems  # the run ends with one sentence per failure


def _printer(stream: TextIO) -> Callable[[Event], None]:
    def emit(event: Event) -> None:
        for line in format_event(event):
            print(line, file=stream, flush=True)

    return emit


def run(*, stream: TextIO | None = None, **options: Any) -> RunResult:
    """Plan, run and print (to `stream`, default stdout): `shopper-chat run` from Python, with
    `plan_run`'s options.

    Raises `OptionError` before anything is written, and `RunInterrupted` after Ctrl-C.
    """
    return execute(plan_run(**options), _printer(stream or sys.stdout))


def execute_scenarios(
    plans: Sequence[Plan],
    parallel: int = 1,
    on_event: Callable[[Plan, Event], None] | None = None,
) -> list[RunResult]:
    """Run one plan per scenario, `parallel` at once, against one server: the embedded one is
    started once for all of them (its clock and ids shared), then stopped."""
    report = on_event or (lambda plan, event: None)
    owner: Any = None
    if plans and plans[0].connection.embedded:
        owner = _open_client(plans[0])  # starts the embedded server the runs share
        shared = replace(plans[0].connection, base_url=str(owner.base_url))
        plans = [replace(p, connection=shared, shared_embedded=True) for p in plans]
    if parallel > 1:
        plans = [replace(p, kernels_ahead=1) for p in plans]
    try:
        def one(plan: Plan) -> RunResult:
            return execute(plan, lambda event: report(plan, event))

        if parallel <= 1:
            return [one(plan) for plan in plans]
        with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="scenario") as pool:
            return list(pool.map(one, plans))
    finally:
        if owner is not None:
            owner.close()


def format_scenarios(results: Sequence[RunResult]) -> list[str]:
    """The closing lines of a scenario matrix: one per scenario, then the verdict."""
    lines = []
    for result in results:
        name = (result.scenario or {}).get("name") or "?"
        verdict = "passed" if result.ok else "FAILED"
        lines.append(f"scenario {name}: {verdict} ({result.folder})")
    passed = sum(r.ok for r in results)
    lines.append(f"scenarios {'passed' if passed == len(results) else 'FAILED'}: "
                 f"{passed} passed, {len(results) - passed} failed")
    return lines


def run_scenarios(
    scenarios: Sequence[str], *, parallel: int = 1, stream: TextIO | None = None,
    **options: Any,
) -> list[RunResult]:
    """`shopper-chat run --scenario ...` from Python: plan, run and print (each line names its
    scenario when several run at once)."""
    plans = plan_scenarios(scenarios, parallel=parallel, **options)
    results = execute_scenarios(plans, parallel, _scenario_printer(stream or sys.stdout, parallel))
    for line in format_scenarios(results):
        print(line, file=stream or sys.stdout, flush=True)
    return results


def _scenario_printer(stream: TextIO, parallel: int) -> Callable[[Plan, Event], None]:
    lock = threading.Lock()

    def emit(plan: Plan, event: Event) -> None:
        prefix = f"[{plan.scenario}] " if parallel > 1 else ""
        with lock:
            for line in format_event(event):
                print(prefix + line, file=stream, flush=True)

    return emit


def main(args: argparse.Namespace) -> int:
    """`shopper-chat run`: exit status 0 when every step passed, 1 otherwise, 2 on bad options,
    130 when interrupted."""
    _without_iri_grammars()
    if getattr(args, "scenario", None) or getattr(args, "parallel", 1) != 1:
        return _main_scenarios(args)
    try:
        plan = plan_run(**_plan_options(args))
    except OptionError as exc:
        print(f"shopper-chat run: {exc}.", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("shopper-chat run: interrupted before the run began; nothing was written.",
              file=sys.stderr)
        return 130
    try:
        result = execute(plan, _printer(sys.stdout))
    except OptionError as exc:  # the run folder could not be made
        print(f"shopper-chat run: {exc}.", file=sys.stderr)
        return 2
    except RunInterrupted:
        return 130  # the closing line has said what was written
    except KeyboardInterrupt:  # a second Ctrl-C, while the run folder was being finished
        print(f"shopper-chat run: interrupted while finishing {plan.folder}; it may be "
              "incomplete.", file=sys.stderr)
        return 130
    return 0 if result.ok else 1


def _without_iri_grammars() -> None:
    """Spare this process a second of start-up that it has no use for.

    papermill imports nbformat, which imports jsonschema, which compiles 38 grammars to check the
    `iri` string format when the optional package `rfc3987-syntax` is installed (JupyterLab's
    dependencies bring it). Nothing a run validates uses that format (nbformat's schema does
    not), so the command's own process goes without that check. The kernels, separate
    processes, are untouched.
    """
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


def _plan_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options a single run and a scenario matrix share, as `plan_run` takes them."""
    return {
        "base_url": args.base_url,
        "out": args.out,
        "only": args.only,
        "timeout": args.timeout,
        "seed": DEFAULT_SEED if args.seed is None else args.seed,
        "clock": args.clock,
        "notebooks": getattr(args, "notebooks", None),
        "params": parse_params(getattr(args, "param", None) or []),
    }


def _main_scenarios(args: argparse.Namespace) -> int:
    """`shopper-chat run --scenario ...`: 0 when every scenario's run passed, 1 otherwise, 2 on
    bad options, 130 when interrupted."""
    if not args.scenario:
        print("shopper-chat run: --parallel runs scenarios at once: give --scenario NAME... "
              "(or --scenario all).", file=sys.stderr)
        return 2
    try:
        plans = plan_scenarios(
            args.scenario,
            parallel=args.parallel,
            **_plan_options(args),
        )
    except OptionError as exc:
        print(f"shopper-chat run: {exc}.", file=sys.stderr)
        return 2
    try:
        results = execute_scenarios(plans, args.parallel,
                                    _scenario_printer(sys.stdout, args.parallel))
    except OptionError as exc:
        print(f"shopper-chat run: {exc}.", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    for line in format_scenarios(results):
        print(line, flush=True)
    return 0 if all(r.ok for r in results) else 1
