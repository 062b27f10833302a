"""Fixtures for the chat panel's tests: JupyterLab on loopback and a headless Chromium.

Everything lives here (not in a helper module) so it works under any pytest import mode."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Lab:
    """A running JupyterLab: its base URL, its token (never printed) and its log file."""

    url: str
    token: str
    root: Path
    log: Path

    def notebook_url(self, name: str) -> str:
        return f"{self.url}/lab/tree/{name}?token={self.token}"


@contextlib.contextmanager
def run_jupyter_lab(root: Path, env: dict[str, str], work: Path) -> Iterator[Lab]:
    """JupyterLab on loopback serving `root`, with a private settings folder; always stopped."""
    port = free_port()
    token = secrets.token_hex(16)
    settings = work / "lab-settings"
    # No news pop-up over the notebook (it would also end up in the screenshot).
    notification = settings / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True, exist_ok=True)
    (notification / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false", "checkForUpdates": false}'
    )
    log = work / "jupyterlab.log"
    venv_bin = str(Path(sys.executable).parent)
    lab_env = {
        **env,
        "PATH": venv_bin + os.pathsep + env.get("PATH", ""),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(work / "lab-workspaces"),
        "JUPYTER_RUNTIME_DIR": str(work / "runtime"),
    }
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
        "--ServerApp.terminals_enabled=False", "--LabApp.extension_manager=readonly",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # CI runs as root in a throwaway machine
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, env=lab_env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=root,
        )
    lab = Lab(url=f"http://127.0.0.1:{port}", token=token, root=root, log=log)
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited at start ({proc.returncode}); see {log}")
            try:
                answer = httpx.get(f"{lab.url}/api/status", params={"token": token}, timeout=2)
                if answer.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"JupyterLab did not answer within 90 s; see {log}")
            time.sleep(0.25)
        yield lab
    finally:
        # The server's process group holds the kernels too: end them all, politely first.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


@pytest.fixture()
def chromium_path() -> Path:
    """Debian's Chromium, or a one-sentence failure saying how to get it."""
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        pytest.fail(
            "Chromium is missing at /usr/bin/chromium: install it (Debian: apt-get install "
            "chromium, which `make test` does) to run the browser test.",
            pytrace=False,
        )
    return CHROMIUM


@pytest.fixture()
def browser(chromium_path: Path) -> Iterator[Any]:
    """Headless Chromium through Playwright, closed at the end."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(chromium_path),
                                              args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture()
def jupyter_lab(tmp_path: Path) -> Iterator[Callable[[Path, dict[str, str]], Lab]]:
    """Start JupyterLab on a folder with an environment; every server started is stopped."""
    with contextlib.ExitStack() as stack:
        started: list[Lab] = []

        def start(root: Path, env: dict[str, str]) -> Lab:
            work = tmp_path / f"lab-{len(started)}"
            work.mkdir()
            started.append(stack.enter_context(run_jupyter_lab(root, env, work)))
            return started[-1]

        yield start
