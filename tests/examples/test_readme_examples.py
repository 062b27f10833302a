"""Every fenced block of README.md, run or checked as what it is: one test per block, named by its
line (`README.md:123`). How a block is run, and the two markers that change it, are described in
`examples_support`."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml
from examples_support import (
    CHECK,
    ROOT,
    RUN,
    SHOWN,
    Fence,
    check_shopper_chat_options,
    checkout,
    clean_env,
    default_port,
    fences,
    markers,
    run_shell,
    stop_group,
)
from markdown_it import MarkdownIt

MAX_NOT_RUN = 4
"""Blocks that only get a syntax check: `make test` (it runs these tests), `make lab` (twice: it
opens a browser) and the run against a real Instacart development server."""

EXAMPLES = [f for f in fences() if f.lang in RUN | CHECK]


def _explain(fence: Fence, done: subprocess.CompletedProcess[str]) -> str:
    return (f"{fence.id}: exit status {done.returncode}\n--- the block\n{fence.text}"
            f"--- stdout\n{done.stdout[-4000:]}\n--- stderr\n{done.stderr[-4000:]}")


@pytest.mark.parametrize("fence", EXAMPLES, ids=[f.id for f in EXAMPLES])
def test_readme_example(fence: Fence, tmp_path: Path) -> None:
    if fence.mode == "not run":
        _check_shell_syntax(fence)
        pytest.skip(f"{fence.id} not run: {fence.reason}")
    if fence.mode == "servers":
        _run_servers(fence, checkout(tmp_path))
    elif fence.lang == "python":
        _run_python(fence, tmp_path)
    elif fence.lang in ("bash", "sh", "console"):
        with default_port():
            done = run_shell(_commands(fence), checkout(tmp_path), timeout=150)
        assert done.returncode == 0, _explain(fence, done)
    elif fence.lang == "crontab":
        _check_crontab(fence)
    elif fence.lang == "yaml":
        assert yaml.safe_load(fence.text) is not None, f"{fence.id}: empty YAML"
    elif fence.lang == "json":
        json.loads(fence.text)


def _commands(fence: Fence) -> str:
    """The commands of a block: a ```console block's lines after `$ `, any other block whole."""
    if fence.lang != "console":
        return fence.text
    return "".join(line[2:] + "\n" for line in fence.text.splitlines() if line.startswith("$ "))


def _check_shell_syntax(fence: Fence) -> None:
    done = subprocess.run(["bash", "-n"], input=_commands(fence), capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, f"{fence.id}: not valid shell:\n{done.stderr}"


def _run_python(fence: Fence, cwd: Path, **env: str) -> None:
    """A fresh interpreter of the project's environment, in an empty folder, without Connect
    settings (but `env`): what `python` in the activated `.venv` gives a newcomer."""
    done = subprocess.run([sys.executable, "-c", fence.text], cwd=cwd, env=clean_env(**env),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, _explain(fence, done)


PYTHON = [f for f in EXAMPLES if f.lang == "python"]


@pytest.mark.parametrize("fence", PYTHON, ids=[f.id for f in PYTHON])
def test_python_example_with_real_credentials_exported(fence: Fence, tmp_path: Path) -> None:
    """The README tells people to export their real server's credentials; without a base URL,
    every snippet still runs against the embedded development server."""
    _run_python(fence, tmp_path, CONNECT_CLIENT_ID="retailer-real-id",
                CONNECT_CLIENT_SECRET="retailer-real-secret")


def _first_line(process: subprocess.Popen[str], timeout: float) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    return process.stdout.readline() if ready else ""


def _run_servers(fence: Fence, cwd: Path) -> None:
    """Each line on its own, as written: it prints its URL, answers on /_emulator/health, and
    stops with exit status 0 on Ctrl-C."""
    for number, line in enumerate(fence.text.splitlines(), fence.line + 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{fence.path.name}:{number}"
        with default_port():
            process = subprocess.Popen(
                ["bash", "-c", line], cwd=cwd, env=clean_env(), stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True, start_new_session=True,
            )
            health = None
            try:
                first = _first_line(process, timeout=30)
                found = re.search(r" on (https?://\S+)", first)
                if found:
                    health = httpx.get(f"{found.group(1)}/_emulator/health", timeout=10)
            finally:
                os.killpg(process.pid, signal.SIGINT)  # Ctrl-C
                try:
                    returncode = process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    returncode = None
                stop_group(process)
                stderr = process.stderr.read() if process.stderr else ""
                for stream in (process.stdout, process.stderr):
                    if stream is not None:
                        stream.close()
        assert found, f"{where}: `{line}` printed {first!r}, not its URL\n{stderr}"
        assert health is not None and health.status_code == 200, f"{where}: {health}\n{stderr}"
        assert health.json()["status"] == "ok", f"{where}: {health.text}"
        assert returncode == 0, f"{where}: Ctrl-C gave exit status {returncode}\n{stderr}"


CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$")


def _check_crontab(fence: Fence) -> None:
    """Five valid time fields, a command that is valid shell, and `shopper-chat run` options that
    the command line accepts."""
    for line in fence.text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split(None, 5)
        assert len(fields) == 6, f"{fence.id}: a crontab line is five time fields and a command"
        assert all(CRON_FIELD.match(f) for f in fields[:5]), f"{fence.id}: bad time {fields[:5]}"
        syntax = subprocess.run(["bash", "-n"], input=fields[5], capture_output=True, text=True)
        assert syntax.returncode == 0, f"{fence.id}: not valid shell:\n{syntax.stderr}"
        check_shopper_chat_options(fields[5], fence.id)


def test_every_block_is_run_or_checked() -> None:
    """A fence names its language, and the tests know what to do with it (```text for output)."""
    unknown = [f"{f.id}: ```{f.lang}" for f in fences() if f.lang not in RUN | CHECK | SHOWN]
    assert not unknown, ("fences the tests do not know how to run or check (a language, or "
                         f"```text for output): {unknown}")


def test_markers_say_why_and_are_few() -> None:
    opening = {f.line: f for f in fences()}
    found = markers()
    for line, kind, reason in found:
        fence = opening.get(line + 1)
        assert fence is not None, f"README.md:{line}: `<!-- {kind}: -->` is not right above a fence"
        assert len(reason.split()) >= 3, f"README.md:{line}: say why (`<!-- {kind}: REASON -->`)"
        assert fence.lang in ("bash", "sh", "console"), f"README.md:{line}: on a shell block only"
    not_run = [line for line, kind, _ in found if kind == "not run"]
    assert len(not_run) <= MAX_NOT_RUN, f"{len(not_run)} blocks not run: {not_run}"


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


@pytest.mark.parametrize("path", ["README.md", "docs/connect-api-contract.md"])
def test_links_lead_somewhere(path: str) -> None:
    """Links to files of the repository and to headings of a page resolve."""
    page = ROOT / path
    tokens = MarkdownIt("commonmark").parse(page.read_text(encoding="utf-8"))
    broken = []
    for token in tokens:
        for child in token.children or []:
            href = str(child.attrGet("href") or "") if child.type == "link_open" else ""
            if not href or re.match(r"^[a-z]+:", href):
                continue
            file_part, _, anchor = href.partition("#")
            target = (page.parent / file_part).resolve() if file_part else page
            leads_nowhere = not target.exists() or (
                bool(anchor) and target.suffix == ".md" and anchor not in _headings(target))
            if leads_nowhere:
                broken.append(href)
    assert not broken, f"{path}: links that lead nowhere: {broken}"


def _headings(page: Path) -> list[str]:
    tokens = MarkdownIt("commonmark").parse(page.read_text(encoding="utf-8"))
    return [_slug(tokens[i + 1].content) for i, t in enumerate(tokens) if t.type == "heading_open"]

