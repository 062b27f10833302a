"""One `--db` file, one server: a second `shopper-chat serve` on a file another process holds is
refused (exit 2, one sentence naming the file); the lock goes with the process, even `kill -9`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
from reliability_support import ServeProcess
from support import CLI, clean_env, free_port


def _second_serve(db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), "serve", "--port", str(free_port()), "--db", str(db)],
        env=clean_env(), capture_output=True, text=True, timeout=60,
    )


def test_a_second_server_on_a_held_file_is_refused_until_the_first_is_gone(
    tmp_path: Path,
) -> None:
    db = tmp_path / "shared.sqlite3"
    first = ServeProcess(["--db", str(db)]).start()
    try:
        # Something for the file to remember: the id sequence, restarted from seed 3.
        httpx.post(f"{first.base_url}/_emulator/seed", json={"seed": 3},
                   timeout=5).raise_for_status()
        refused = _second_serve(db)
        assert refused.returncode == 2, refused.stderr
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1, refused.stderr
        assert str(db) in lines[0] and "in use by another shopper-chat server" in lines[0]
        assert refused.stdout == ""  # it never said it was serving
        # The first server is untouched and still answers.
        health = httpx.get(f"{first.base_url}/_emulator/health", timeout=5).json()
        assert health["db"] == "file"

        first.kill()  # SIGKILL: no clean-up ran, the OS released the lock
        second = ServeProcess(["--db", str(db)]).start()
        try:
            assert httpx.get(f"{second.base_url}/_emulator/health", timeout=5).json()["seed"] == 3
        finally:
            second.stop()
        # A clean stop releases it too.
        third = ServeProcess(["--db", str(db)]).start()
        third.stop()
    finally:
        first.stop()
