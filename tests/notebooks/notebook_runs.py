"""Helpers for the tests of the notebooks and `shopper-chat run`."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support import CLI, clean_env

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"


@dataclass
class Run:
    """A finished run: its folder, exit status, what it printed, the tokens it used."""

    folder: Path
    returncode: int
    output: str
    tokens: list[str] = field(default_factory=list)

    @property
    def summary(self) -> dict[str, Any]:
        return json.loads((self.folder / "summary.json").read_text(encoding="utf-8"))

    def transcript(self) -> list[dict[str, Any]]:
        return json.loads((self.folder / "transcript.json").read_text(encoding="utf-8"))


def run_cli(out: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 240) -> Run:
    """`shopper-chat run --out OUT ARGS...` in a subprocess."""
    if shutil.which(str(CLI)) is None:
        pytest.fail(f"{CLI} is missing: install the project (`make install`).", pytrace=False)
    done = subprocess.run(
        [str(CLI), "run", "--out", str(out), *args],
        env=env if env is not None else clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    latest = out / "latest"
    folder = latest.resolve() if latest.exists() else out
    return Run(folder=folder, returncode=done.returncode, output=done.stdout + done.stderr)


