"""A full `shopper-chat run` through the development server's fault rules gives the same
transcript as a run without faults, and leaves no secret or token in anything it writes.

Two `shopper-chat serve` processes (same seed and clock, each with its own `--db`) and two runs,
side by side: one server answers plainly, the other with a share of 429 (with and without
`Retry-After`), 503, added latency and dropped connections on the safe routes and on chat send
(there the connection drops after the message is stored: the answer is lost, not the message).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from reliability_support import (
    CLOCK,
    ROOT,
    SEED,
    ServeProcess,
    add_faults,
    client_kwargs,
    token_hashes,
    tokens_in,
)
from shopper_chat.devserver import DEFAULT_CLIENT_SECRET
from support import CLI, clean_env


@dataclass
class Finished:
    server: ServeProcess
    db: Path
    folder: Path
    returncode: int
    output: str
    faults: list[dict[str, Any]]
    added: list[dict[str, Any]]

    def transcript(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = json.loads(
            (self.folder / "transcript.json").read_text(encoding="utf-8"))
        return rows

    def conversation(self) -> list[tuple[str, str, str, bool]]:
        """(role, body, image, read) in order; the server's own URL in an image is neutral."""
        return [(m["sender_role"], m["body"],
                 m["image"].replace(self.server.base_url, "{server}"), bool(m["read"]))
                for m in self.transcript()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Finished]]:
    """The plain run and the faulty run, executed at the same time."""
    base = tmp_path_factory.mktemp("faults")
    servers: dict[str, tuple[ServeProcess, Path]] = {}
    processes: dict[str, subprocess.Popen[str]] = {}
    try:
        for name in ("plain", "faulty"):
            db = base / f"{name}.db"
            server = ServeProcess(["--seed", str(SEED), "--clock", CLOCK, "--db", str(db)])
            servers[name] = (server.start(), db)
        add_faults(servers["faulty"][0].add_fault)
        creds = client_kwargs()
        env = clean_env(CONNECT_CLIENT_ID=creds["client_id"],
                        CONNECT_CLIENT_SECRET=creds["client_secret"])
        processes.update({
            name: subprocess.Popen(
                [str(CLI), "run", "--base-url", server.base_url, "--out", str(base / name)],
                env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for name, (server, _) in servers.items()
        })
        outputs = {name: p.communicate(timeout=240)[0] for name, p in processes.items()}
        finished = {}
        for name, (server, db) in servers.items():
            folder = (base / name / "latest").resolve()
            finished[name] = Finished(server, db, folder, processes[name].returncode,
                                      outputs[name], server.faults(),
                                      server.added)
        yield finished
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.communicate()
        for server, _ in servers.values():
            server.stop()


def test_both_runs_pass(runs: dict[str, Finished]) -> None:
    for name, run in runs.items():
        assert run.returncode == 0, f"{name} run failed:\n{run.output}"


def test_the_faults_really_happened(runs: dict[str, Finished]) -> None:
    applied: dict[str, int] = {}
    # Rules with `times` leave the list once used up: those not listed any more were applied.
    listed = {rule["id"]: rule for rule in runs["faulty"].faults}
    for added in runs["faulty"].added:
        rule = listed.get(added["id"], {**added, "applied": added["times"]})
        if rule["drop"]:
            kind = f"drop {rule['method']}" + (" after" if rule["when"] == "after" else "")
        elif rule["status"] == 429:
            kind = "429 with Retry-After" if rule["retry_after"] is not None else "429"
        elif rule["status"] is not None:
            kind = str(rule["status"])
        else:
            kind = "latency"
        applied[kind] = applied.get(kind, 0) + rule["applied"]
    for kind in ("429", "429 with Retry-After", "503", "latency", "drop GET", "drop POST after"):
        assert applied.get(kind, 0) > 0, f"no {kind} fault was applied: {applied}"


def test_faults_change_nothing_in_the_transcript(runs: dict[str, Finished]) -> None:
    plain, faulty = runs["plain"].conversation(), runs["faulty"].conversation()
    assert len(plain) >= 5
    assert faulty == plain
    ids = [m["id"] for m in runs["faulty"].transcript()]
    assert ids == sorted(set(ids))  # nothing doubled, in order


def test_no_secret_or_token_in_any_file_or_output_of_either_run(
    runs: dict[str, Finished],
) -> None:
    for name, run in runs.items():
        hashes = token_hashes(run.db)
        assert len(hashes) >= 2, "the server issued no tokens?"
        assert DEFAULT_CLIENT_SECRET not in run.output
        assert not tokens_in(run.output, hashes), f"{name}: a token in the run's output"
        files = [p for p in run.folder.rglob("*") if p.is_file()]
        assert len(files) >= 10
        for path in files:
            text = path.read_text(encoding="utf-8", errors="replace")
            assert DEFAULT_CLIENT_SECRET not in text, f"{name}: the secret in {path.name}"
            assert not tokens_in(text, hashes), f"{name}: a token in {path.name}"
