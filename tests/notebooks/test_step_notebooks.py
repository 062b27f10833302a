"""The step notebooks: the house template, and nbval catching a changed output."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import papermill
import pytest
from notebook_runs import NOTEBOOKS
from support import clean_env

STEPS = sorted(NOTEBOOKS.glob("0[0-6]_*.ipynb"))
TEMPLATED = [*STEPS, NOTEBOOKS / "08_push_instead_of_poll.ipynb"]
"""The notebooks of the house template: the steps, and the ones beside them (no ids to pass on)."""
PARAMETER = re.compile(r"^([A-Z][A-Z0-9_]*): (str|int|float|bool) = .+  # \S.*$")
SECRET_WORDS = ("SECRET", "TOKEN", "PASSWORD", "CLIENT_ID", "BASE_URL")


def cells(path: Path) -> list[dict[str, object]]:
    return list(json.loads(path.read_text(encoding="utf-8"))["cells"])


def source(cell: dict[str, object]) -> str:
    text = cell["source"]
    return "".join(text) if isinstance(text, list) else str(text)


def test_there_are_a_walkthrough_and_six_steps() -> None:
    assert [p.stem.split("_")[0] for p in STEPS] == ["00", "01", "02", "03", "04", "05", "06"]


@pytest.mark.parametrize("path", TEMPLATED, ids=lambda p: p.stem)
def test_notebook_follows_the_template(path: Path) -> None:
    nb = cells(path)
    assert nb[0]["cell_type"] == "markdown" and source(nb[0]).startswith("# ")
    tagged = [c for c in nb if "parameters" in c.get("metadata", {}).get("tags", [])]  # type: ignore[attr-defined]
    assert len(tagged) == 1 and tagged[0] is nb[1]
    lines = source(tagged[0]).splitlines()
    for line in lines:
        assert PARAMETER.match(line), f"not `NAME: type = value  # comment`: {line}"
        assert not any(word in line.split(":")[0] for word in SECRET_WORDS), line
    assert set(papermill.inspect_notebook(str(path))) == {ln.split(":")[0] for ln in lines}
    code = [source(c) for c in nb if c["cell_type"] == "code"]
    for text in code:
        assert not re.search(r"^\s*(def|class) ", text, re.M), "no def/class in notebooks"
        assert len(text.splitlines()) <= 15
    if path in STEPS and path.stem != "00_walkthrough":
        ids = [c for c in nb if "ids" in c.get("metadata", {}).get("tags", [])]  # type: ignore[attr-defined]
        assert len(ids) == 1, "a step reports its ids in one cell tagged `ids`"
    executed = [c for c in nb if c["cell_type"] == "code"]
    assert all(c["execution_count"] for c in executed), "committed executed, for nbval"
    assert sum(len(c["outputs"]) for c in executed) >= len(executed) - 2  # type: ignore[arg-type]


def test_nbval_catches_a_changed_output(tmp_path: Path) -> None:
    nb = json.loads((NOTEBOOKS / "06_mark_read.ipynb").read_text(encoding="utf-8"))
    changed = 0
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            text = "".join(output.get("text", []))
            if "messages_read_count: 2" in text:
                output["text"] = text.replace("messages_read_count: 2", "messages_read_count: 5")
                changed += 1
    assert changed == 1
    copy = tmp_path / "06_mark_read.ipynb"
    copy.write_text(json.dumps(nb), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env", "-p",
         "no:cacheprovider", "-q", copy.name],
        cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 1, done.stdout[-2000:]
    assert "messages_read_count: 5" in done.stdout and "1 failed" in done.stdout


def test_the_panel_notebook_runs_with_a_real_servers_credentials_exported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As from JupyterLab: no base URL, the real server's pair in the kernel's environment."""
    secret = "real-server-secret-0123456789"
    monkeypatch.setenv("CONNECT_CLIENT_ID", "real-server-client")
    monkeypatch.setenv("CONNECT_CLIENT_SECRET", secret)
    target = tmp_path / "07.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOKS / "07_chat_panel.ipynb"), str(target), cwd=str(NOTEBOOKS),
        parameters={"OUTPUT_DIR": str(tmp_path / "panel")}, progress_bar=False,
    )
    assert "answered:" in target.read_text(encoding="utf-8")
    assert secret not in target.read_text(encoding="utf-8")
    assert (tmp_path / "panel" / "transcript.md").is_file()


def test_a_step_notebook_with_a_base_url_and_no_credentials_uses_the_local_ones(
    devserver: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`shopper-chat serve` and CONNECT_BASE_URL, no credentials: as `shopper-chat run` does."""
    monkeypatch.setenv("CONNECT_BASE_URL", devserver)
    target = tmp_path / "05.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOKS / "05_send_message.ipynb"), str(target), cwd=str(NOTEBOOKS),
        progress_bar=False,
    )
    assert "server: CONNECT_BASE_URL" in target.read_text(encoding="utf-8")
