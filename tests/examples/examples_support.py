"""The README's fenced blocks, and a place to run them as a newcomer would.

A block is what its fence says: ```python runs in a fresh interpreter, ```bash / ```sh / ```console
run in bash, ```crontab, ```yaml and ```json are checked for what they are, ```text is output shown
for reading. An HTML comment on the line right above the fence changes how a block is run:

- `<!-- not run: REASON -->`: only its syntax is checked (`bash -n`); the test is skipped with the
  reason. For commands that would run the tests themselves or open a browser.
- `<!-- servers: REASON -->`: each line starts a server that serves until Ctrl-C; each is run on
  its own, must print its URL and answer on `/_emulator/health`, then gets Ctrl-C and must exit 0.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from support import CONNECT_ENV

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
VENV = Path(sys.prefix)
DEFAULT_PORT = 8765
"""`shopper-chat serve`'s port, which the README's shell examples use."""

RUN = {"python", "bash", "sh", "console"}
CHECK = {"crontab", "yaml", "json"}
SHOWN = {"text"}
MARKER = re.compile(r"^\s*<!--\s*(not run|servers)\s*:?\s*(.*?)\s*-->\s*$")


@dataclass(frozen=True)
class Fence:
    """One fenced block of a Markdown file."""

    path: Path
    line: int
    """The line of the opening fence (1-based)."""
    lang: str
    text: str
    mode: str = ""
    """"" (run as the language says), "not run" or "servers": the marker above the fence."""
    reason: str = ""

    @property
    def id(self) -> str:
        return f"{self.path.name}:{self.line}"


def fences(path: Path = README) -> list[Fence]:
    """Every fenced block of `path`, with the marker on the line above it, if any."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    found = []
    for token in MarkdownIt("commonmark").parse(source):
        if token.type != "fence" or token.map is None:
            continue
        start = token.map[0]
        marker = MARKER.match(lines[start - 1]) if start > 0 else None
        found.append(Fence(
            path=path, line=start + 1, lang=(token.info.split() or [""])[0], text=token.content,
            mode=marker.group(1) if marker else "", reason=marker.group(2) if marker else "",
        ))
    return found


def markers(path: Path = README) -> list[tuple[int, str, str]]:
    """Every marker comment of `path`: (line, kind, reason)."""
    return [(number, m.group(1), m.group(2))
            for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if (m := MARKER.match(text))]


def clean_env(**extra: str) -> dict[str, str]:
    """A newcomer's shell: no Connect settings and no virtual environment on PATH (the README
    calls the project's tools as `.venv/bin/...`)."""
    venv_bin = (VENV / "bin").resolve()
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep)
            if p and Path(p).resolve() != venv_bin]
    env = {k: v for k, v in os.environ.items()
           if k not in CONNECT_ENV and k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = os.pathsep.join(path)
    env.update(extra)
    return env


def checkout(folder: Path) -> Path:
    """A stand-in for the repository at `folder`: `notebooks/` copied (examples may rewrite it),
    everything else linked, `.venv` the interpreter's environment. What examples write stays there.
    """
    for entry in ROOT.iterdir():
        if entry.name in (".git", ".venv", "outputs", "out") or entry.name.startswith("."):
            continue
        if entry.name == "notebooks":
            shutil.copytree(entry, folder / entry.name)
        else:
            (folder / entry.name).symlink_to(entry)
    (folder / ".venv").symlink_to(VENV)
    return folder


@contextlib.contextmanager
def default_port() -> Iterator[None]:
    """Hold `shopper-chat serve`'s default port for one example: one at a time on this machine
    (a lock file shared by every checkout), and fail with a sentence if another program has it."""
    lock_path = Path(tempfile.gettempdir()) / f"shopper-chat-readme-port-{DEFAULT_PORT}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with socket.socket() as probe:
            # as the server binds: a connection of an earlier example left in TIME_WAIT is no
            # listener, and must not count as one
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", DEFAULT_PORT))
            except OSError:
                pytest.fail(f"port {DEFAULT_PORT} is in use: the README's examples start "
                            f"`shopper-chat serve` on it; stop what listens there and run again.",
                            pytrace=False)
        yield


def stop_group(process: subprocess.Popen[str], sig: int = signal.SIGTERM) -> None:
    """Stop `process` and everything it left running (a session of its own)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    # Children a block sent to the background may outlive bash: the group still names them.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def run_shell(script: str, cwd: Path, timeout: float, env: dict[str, str] | None = None,
              ) -> subprocess.CompletedProcess[str]:
    """`script` in `bash -e -o pipefail`, in a session of its own: when bash ends, whatever it left
    in the background is stopped. Output goes to files, which a background server keeping them
    open cannot hold up."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(
            ["bash", "-e", "-o", "pipefail", "-c", script], cwd=cwd,
            env=env if env is not None else clean_env(), stdout=out, stderr=err, text=True,
            start_new_session=True,
        )
        try:
            process.wait(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            stop_group(process)
        out.seek(0)
        err.seek(0)
        done = subprocess.CompletedProcess(process.args, process.returncode, out.read(), err.read())
    if timed_out:
        pytest.fail(f"still running after {timeout:.0f} s\n--- stdout\n{done.stdout}\n"
                    f"--- stderr\n{done.stderr}", pytrace=False)
    return done


def check_shopper_chat_options(command: str, where: str) -> None:
    """Parse the options of each `shopper-chat` call in `command` as the command line does."""
    from shopper_chat.cli import build_parser

    words = shlex.split(command)
    calls = [i for i, word in enumerate(words)
             if word == "shopper-chat" or word.endswith("bin/shopper-chat")]
    assert calls, f"{where}: no shopper-chat command"
    for start in calls:
        args = []
        for word in words[start + 1:]:
            if word in ("&&", "||", ";", "|") or word.startswith((">", "2>", "<")):
                break
            args.append(word)
        refused: object = None
        try:
            build_parser().parse_args(args)
        except SystemExit as exc:
            refused = exc.code
        if refused is not None:
            pytest.fail(f"{where}: shopper-chat {' '.join(args)}: refused (exit status "
                        f"{refused})", pytrace=False)
