"""The chat panel notebook: the house template, and a headless run by papermill."""

from __future__ import annotations

import json
import re
from pathlib import Path

import papermill
import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "07_chat_panel.ipynb"
PARAMETER = re.compile(r"^([A-Z][A-Z0-9_]*): (str|int|float|bool) = .+  # \S.*$")


def test_the_notebook_follows_the_template() -> None:
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    cells = nb["cells"]
    assert cells[0]["cell_type"] == "markdown" and "".join(cells[0]["source"]).startswith("# ")
    assert cells[1]["metadata"].get("tags") == ["parameters"]
    lines = "".join(cells[1]["source"]).splitlines()
    for line in lines:
        assert PARAMETER.match(line), f"not `NAME: type = value  # comment`: {line}"
    assert set(papermill.inspect_notebook(str(NOTEBOOK))) == {ln.split(":")[0] for ln in lines}
    for cell in cells:
        text = "".join(cell["source"])
        if cell["cell_type"] == "code":
            assert not re.search(r"^\s*(def|class) ", text, re.M), "no def/class in notebooks"
            assert len(text.splitlines()) <= 15
            assert not cell.get("outputs"), "committed without outputs (no widget state)"
    assert "widgets" not in nb["metadata"], "committed without widget state"


def test_a_headless_run_sends_waits_and_saves_the_transcript(
    devserver: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shopper_chat.devserver import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

    # The kernel finds the server and the credentials in its environment, never as parameters.
    monkeypatch.setenv("CONNECT_BASE_URL", devserver)
    monkeypatch.setenv("CONNECT_CLIENT_ID", DEFAULT_CLIENT_ID)
    monkeypatch.setenv("CONNECT_CLIENT_SECRET", DEFAULT_CLIENT_SECRET)
    out = tmp_path / "transcript"
    executed = tmp_path / "07_chat_panel.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK), str(executed), cwd=str(NOTEBOOK.parent), progress_bar=False,
        parameters={"OUTPUT_DIR": str(out), "SEND_MESSAGE": "Hello! Ripe bananas, please."},
    )
    markdown = (out / "transcript.md").read_text(encoding="utf-8")
    assert "Hello! Ripe bananas, please." in markdown
    assert "Hi, this is Zelma" in markdown
    assert markdown.count("(shopper)") >= 2, "the shopper's answer is in the transcript"
    assert {p.name for p in out.iterdir()} >= {"transcript.md", "transcript.html",
                                                "transcript.csv", "transcript.json"}
    text = executed.read_text(encoding="utf-8")
    assert DEFAULT_CLIENT_SECRET not in text
    assert len(text) < 100_000, "the executed notebook stays small"
