"""`shopper-chat run`: the tutorial's step notebooks, headless, in a chain, into one run folder.

A run executes `01_setup` ... `06_mark_read` (then `07_chat_panel`, headless, when that notebook
exists) with papermill, each in its own kernel, on the same order: the ids a step reports in its
cell tagged `ids` are passed to the next steps as papermill parameters. Credentials never travel as
parameters: the kernels find `CONNECT_BASE_URL`, `CONNECT_CLIENT_ID` and `CONNECT_CLIENT_SECRET` in
their environment, and derive the customer's user access token from `USER_ID` themselves.

Without a base URL (`--base-url` or `CONNECT_BASE_URL`) the run starts one embedded development
server (fixed seed and clock, so that two runs show the same conversation) and stops it at the end.

Everything a run writes goes to `<out>/<UTC timestamp>-<short id>/`:

```
01_setup.ipynb ... 06_mark_read.ipynb   the executed notebooks (a failed one up to its error)
transcript.md .html .csv .json          the conversation as the server last returned it
summary.json                            per step: status, duration, ids created, error and cell
```
and `<out>/latest` points at the newest run. A failed step does not end the run: the steps that
depend on it are skipped, the transcript of what did happen is written, and the command exits 1
with one sentence per failure naming the step and the cause.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import re
import secrets
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

__all__ = [
    "STEPS",
    "RunResult",
    "Step",
    "StepResult",
    "add_arguments",
    "main",
    "run",
]

DEFAULT_SEED = 7
DEFAULT_CLOCK = "2026-01-15T17:00:00Z"
IDS_TAG = "ids"
"""Tag of the cell whose output is the step's ids, a dict literal (`{"ORDER_ID": "...", ...}`)."""


@dataclass(frozen=True)
class Step:
    """One notebook of the chain."""

    name: str
    """The notebook's file name without `.ipynb`, e.g. `01_setup`."""
    after: tuple[str, ...] = ()
    """Steps whose failure makes this one pointless (it is skipped then)."""
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
    status: str = "pending"  # "passed" | "failed" | "skipped"
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

    @property
    def ok(self) -> bool:
        return not self.problems and all(s.status != "failed" for s in self.steps)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `shopper-chat run`."""
    parser.add_argument(
        "--base-url",
        default=None,
        help="Connect server to run against (default: CONNECT_BASE_URL; without either, an "
        "embedded development server is started for the run). Credentials come from "
        "CONNECT_CLIENT_ID / CONNECT_CLIENT_SECRET.",
    )
    parser.add_argument(
        "--out", default="outputs", help="folder for run folders (default: outputs)"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="STEP",
        default=None,
        help="run only these steps, by number or name (e.g. --only 01 02 05)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
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
            raise ValueError(f"unknown step {token!r}: choose among {names}")
        wanted.extend(m for m in match if m not in wanted)
    return [s for s in STEPS if s in wanted]


def new_run_id(now: datetime | None = None) -> str:
    """`<UTC timestamp>-<short random id>`, unique per run and sorting by time."""
    moment = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    return f"{moment}-{secrets.token_hex(3)}"


def run_ids(run_id: str) -> dict[str, str]:
    """The customer and order ids of a run: unique per run, so runs never collide on a server."""
    short = run_id.rsplit("-", 1)[-1]
    return {"USER_ID": f"customer-{short}", "ORDER_ID": f"order-{short}"}


def parse_params(items: Sequence[str]) -> dict[str, Any]:
    """`NAME=VALUE` pairs for the chain's ids (`*_ID` names only; digits become ints)."""
    params: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not re.fullmatch(r"[A-Z][A-Z0-9_]*_ID", name) or not value:
            raise ValueError(  # the value is not repeated: it might be a secret given by mistake
                f"bad --param {name or '(no name)'}: only ids are parameters, as NAME=VALUE with a "
                "name ending in _ID, e.g. ORDER_ID=order-1"
            )
        params[name] = int(value) if value.isdigit() and name in _INT_IDS else value
    return params


_INT_IDS = frozenset({"SHOPPER_ID", "BATCH_ID"})


@contextlib.contextmanager
def _environment(values: Mapping[str, str | None]) -> Iterator[None]:
    """Set (or, for None, remove) environment variables for the kernels; restore them after."""
    def apply(settings: Mapping[str, str | None]) -> None:
        for name, value in settings.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    saved = {name: os.environ.get(name) for name in values}
    try:
        apply(values)
        yield
    finally:
        apply(saved)


def _notebook_parameters(path: Path) -> set[str]:
    import papermill

    return set(papermill.inspect_notebook(str(path)))


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
    step: Step,
    source: Path,
    target: Path,
    parameters: dict[str, Any],
    timeout: float,
) -> dict[str, Any] | None:
    """Run one notebook with papermill; None when it passed, else the error's name/message/cell."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    try:
        papermill.execute_notebook(
            str(source),
            str(target),
            parameters=parameters,
            progress_bar=False,
            log_output=False,
            cwd=str(source.parent),
            execution_timeout=timeout,
            # the kernel's own start-up notices would interleave with the progress lines
            extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
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
        self.frame: Any = None
        self.fetched_for: tuple[str, str] | None = None
        self.last_error: str | None = None

    def refresh(self, ids: Mapping[str, Any]) -> None:
        from shopper_chat import transcripts

        order_id, user_id = ids.get("ORDER_ID"), ids.get("USER_ID")
        if not order_id or not user_id:
            return
        try:
            self.client.set_user(str(user_id))
            conversation = self.client.chat.messages(str(order_id))
            self.frame = transcripts.to_frame(conversation)
            self.fetched_for = (str(user_id), str(order_id))
            self.last_error = None
        except Exception as exc:  # keep the last good copy; say why in summary.json
            self.last_error = f"{type(exc).__name__}: {exc}"


def _open_client(
    base_url: str | None, seed: int, clock: str | None, echo: TextIO
) -> tuple[Any, dict[str, str]]:
    """The runner's client and the environment its kernels need (base URL and credentials).

    Without a base URL, `connect()` starts the run's embedded development server, which accepts
    its documented local credentials. With one, the credentials come from the environment (or,
    when it has none, the development server's local defaults, which `shopper-chat serve` accepts).
    """
    import shopper_chat
    from shopper_chat.devserver import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

    if base_url:
        client_id = os.environ.get("CONNECT_CLIENT_ID") or ""
        client_secret = os.environ.get("CONNECT_CLIENT_SECRET") or ""
        if not client_id or not client_secret:
            print(
                "no CONNECT_CLIENT_ID / CONNECT_CLIENT_SECRET in the environment: using the "
                "development server's local credentials",
                file=echo,
                flush=True,
            )
            client_id, client_secret = DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
        client = shopper_chat.Client(
            base_url, client_id=client_id, client_secret=client_secret, max_retry_seconds=5.0
        )
    else:
        client_id, client_secret = DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
        with _environment({"CONNECT_BASE_URL": None}):
            client = shopper_chat.connect(
                seed=seed, clock=clock or None, client_id=client_id, client_secret=client_secret
            )
    env = {
        "CONNECT_BASE_URL": str(client.base_url),
        "CONNECT_CLIENT_ID": client_id,
        "CONNECT_CLIENT_SECRET": client_secret,
    }
    return client, env


def _point_latest(out: Path, folder: Path) -> None:
    latest = out / "latest"
    tmp = out / f".latest-{folder.name}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.symlink_to(folder.name, target_is_directory=True)
    os.replace(tmp, latest)


def run(
    *,
    base_url: str | None = None,
    out: str | os.PathLike[str] = "outputs",
    only: Sequence[str] | None = None,
    timeout: float = 600.0,
    seed: int = DEFAULT_SEED,
    clock: str | None = DEFAULT_CLOCK,
    notebooks: str | os.PathLike[str] | None = None,
    params: Mapping[str, Any] | None = None,
    stream: TextIO | None = None,
) -> RunResult:
    """Run the chain and write the run folder; a failed step is reported, never raised."""
    echo = stream or sys.stdout
    source_dir = Path(notebooks) if notebooks else default_notebooks_dir()
    steps = select_steps(source_dir, only)
    out_dir = Path(out)
    run_id = new_run_id()
    folder = out_dir / run_id
    folder.mkdir(parents=True, exist_ok=False)
    _point_latest(out_dir, folder)
    base_url = base_url or os.environ.get("CONNECT_BASE_URL") or None
    result = RunResult(run_id=run_id, folder=folder, server=base_url or "embedded")
    started = datetime.now(timezone.utc)
    where = base_url or f"an embedded development server (seed {seed}, clock {clock or 'real'})"
    print(f"shopper-chat run {run_id}: {len(steps)} steps against {where}", file=echo, flush=True)

    client: Any = None
    secret_values: list[str] = []
    try:
        try:
            client, env = _open_client(base_url, seed, clock, echo)
        except Exception as exc:
            problem = f"Could not start the run: {type(exc).__name__}: {exc}."
            result.problems.append(problem)
            print(problem, file=echo, flush=True)
            env = {}
        secret_values = [env.get("CONNECT_CLIENT_SECRET", "")]
        conversation = _Conversation(client) if client is not None else None
        result.ids.update(run_ids(run_id))
        result.ids.update(params or {})
        _run_steps(result, steps, source_dir, env, conversation, timeout, secret_values, echo)
        _write_transcript(result, conversation, echo)
    finally:
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
        finished = datetime.now(timezone.utc)
        _write_summary(result, started, finished, seed, clock, base_url, secret_values)
    failed = sum(s.status == "failed" for s in result.steps)
    skipped = sum(s.status == "skipped" for s in result.steps)
    verdict = "passed" if result.ok else "FAILED"
    print(
        f"run {verdict}: {len(result.steps) - failed - skipped} passed, {failed} failed, "
        f"{skipped} skipped; wrote {folder}",
        file=echo,
        flush=True,
    )
    return result


def _run_steps(
    result: RunResult,
    steps: Sequence[Step],
    source_dir: Path,
    env: Mapping[str, str],
    conversation: _Conversation | None,
    timeout: float,
    secret_values: Sequence[str],
    echo: TextIO,
) -> None:
    width = max(len(s.name) for s in steps) + 2 if steps else 10
    status: dict[str, str] = {}
    unreachable = not env
    reported_before: dict[str, Any] = {}
    for step in steps:
        entry = StepResult(step=step.name)
        result.steps.append(entry)
        blocked = [a for a in step.after if status.get(a) in ("failed", "skipped")]
        if unreachable or blocked:
            entry.status = "skipped"
            entry.reason = (
                f"needs {', '.join(blocked)}" if blocked else "the server could not be reached"
            )
            status[step.name] = "skipped"
            print(f"{step.name:.<{width}} skipped ({entry.reason})", file=echo, flush=True)
            continue
        source = source_dir / f"{step.name}.ipynb"
        target = result.folder / f"{step.name}.ipynb"
        declared = _notebook_parameters(source)
        parameters = {k: v for k, v in result.ids.items() if k in declared}
        if step.name == "07_chat_panel" and "OUTPUT_DIR" in declared:
            parameters["OUTPUT_DIR"] = str((result.folder / step.name).resolve())
        entry.parameters = parameters
        entry.notebook = target.name
        began = time.monotonic()
        with _environment(dict(env)):
            error = _execute(step, source, target, parameters, timeout)
        entry.duration_s = time.monotonic() - began
        if not target.exists():
            entry.notebook = None
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
            ids = ", ".join(f"{k}={v}" for k, v in entry.ids_created.items())
            line = f"{step.name:.<{width}} passed {entry.duration_s:5.1f} s"
            print(line + (f"  ({ids})" if ids else ""), file=echo, flush=True)
        else:
            error["message"] = _scrub(str(error.get("message", "")), secret_values)
            entry.status = "failed"
            entry.error = error
            sentence = _describe_failure(step.name, error, env.get("CONNECT_BASE_URL", ""),
                                         secret_values)
            result.problems.append(sentence)
            print(f"{step.name:.<{width}} failed {entry.duration_s:5.1f} s", file=echo, flush=True)
            print(f"  {sentence}", file=echo, flush=True)
            if error.get("name") in _UNREACHABLE:
                unreachable = True
        status[step.name] = entry.status


def _write_transcript(
    result: RunResult, conversation: _Conversation | None, echo: TextIO
) -> None:
    from shopper_chat import transcripts

    if conversation is None or conversation.frame is None:
        reason = (conversation.last_error if conversation else None) or "no conversation yet"
        result.transcript = {"written": False, "reason": reason}
        print(f"no transcript: {reason}", file=echo, flush=True)
        return
    transcripts.write_transcripts(conversation.frame, result.folder)
    frame = conversation.frame
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
    started: datetime,
    finished: datetime,
    seed: int,
    clock: str | None,
    base_url: str | None,
    secret_values: Sequence[str],
) -> None:
    summary = {
        "run_id": result.run_id,
        "status": "passed" if result.ok else "failed",
        "started_at": started.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "finished_at": finished.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "duration_s": round((finished - started).total_seconds(), 2),
        "server": base_url or "embedded",
        "dev_seed": None if base_url else seed,
        "dev_clock": None if base_url else (clock or None),
        "ids": result.ids,
        "steps": [s.as_json() for s in result.steps],
        "transcript": result.transcript,
        "problems": result.problems,
    }
    text = _scrub(json.dumps(summary, indent=2, default=str), secret_values)
    (result.folder / "summary.json").write_text(text + "\n", encoding="utf-8")


def main(args: argparse.Namespace) -> int:
    """`shopper-chat run`: exit status 0 when every step passed, 1 otherwise, 2 on bad options."""
    try:
        params = parse_params(getattr(args, "param", None) or [])
        result = run(
            base_url=args.base_url,
            out=args.out,
            only=args.only,
            timeout=args.timeout,
            seed=DEFAULT_SEED if args.seed is None else args.seed,
            clock=args.clock,
            notebooks=getattr(args, "notebooks", None),
            params=params,
        )
    except ValueError as exc:
        print(f"shopper-chat run: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("shopper-chat run: interrupted; the run folder holds what was done", file=sys.stderr)
        return 130
    return 0 if result.ok else 1
