"""What the test folders share: the command, a clean environment, a free port, and
`shopper-chat serve` in its own process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from shopper_chat.runner import CONNECT_ENV

__all__ = ["CLI", "CONNECT_ENV", "ServeProcess", "clean_env", "free_port"]

CLI = Path(sys.executable).with_name("shopper-chat")


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any Connect settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in CONNECT_ENV}
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class ServeProcess:
    """`shopper-chat serve ARGS` as a subprocess on a free loopback port, with a clean
    environment plus `env`; `start()` waits for its health route."""

    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[str] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServeProcess:
        if not CLI.exists():
            pytest.fail(f"{CLI} is missing: install the project (`make install`).", pytrace=False)
        self.process = subprocess.Popen(
            [str(CLI), "serve", "--host", "127.0.0.1", "--port", str(self.port), *self.args],
            env=clean_env(**self.env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.base_url}/_emulator/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                err = self.stop()
                pytest.fail(f"shopper-chat serve did not start: {err.strip()[-500:]}",
                            pytrace=False)
            time.sleep(0.05)

    def kill(self) -> None:
        """Kill it at once (SIGKILL): no graceful shutdown, as in a crash."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        if self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None

    def stop(self) -> str:
        """Stop it; returns what it wrote to stderr."""
        if self.process is None:
            return ""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        err = self.process.stderr.read() if self.process.stderr is not None else ""
        if self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None
        return err or ""
