"""Role-play: `ChatPanel(..., role="shopper")` lets a person play the shopper through the control
plane, and the role-play notebook puts both panels side by side on one order."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import papermill
import pytest
from shopper_chat import tutorial
from shopper_chat.panel import ChatModel, ChatPanel
from shopper_chat.panel._render import render_entry, render_header

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "09_role_play.ipynb"
PARAMETER = re.compile(r"^([A-Z][A-Z0-9_]*): (str|int|float|bool) = .+  # \S.*$")


@pytest.fixture()
def silent_order(client: Any) -> str:
    """An order in picking whose scripted shopper is off; the client acts as its customer."""
    setup = tutorial.create_order(client)
    assert client.emulator.set_scenario(setup.order_id, "off")["name"] == "off"
    tutorial.start_shopping(client, setup.order_id, setup.user_id)
    client.set_user(setup.user_id)
    return setup.order_id


def test_the_shopper_side_sends_through_the_control_plane(client: Any, silent_order: str) -> None:
    customer = ChatModel(client, silent_order, interval=0.2)
    shopper = ChatModel(client, silent_order, interval=0.2, role="shopper")
    try:
        sent = shopper.send("Hi, I'm Ana. Regular bananas instead of organic?")
        assert sent.role == "shopper"
        seen = customer.wait_for_messages(count=1, timeout=10)
        assert [e.body for e in seen] == ["Hi, I'm Ana. Regular bananas instead of organic?"]
        customer.send("Yes please!")
        answer = shopper.wait_for_messages(count=1, timeout=10)  # the other side: the customer
        assert answer[-1].role == "customer" and answer[-1].body == "Yes please!"
        shopper.wait_for_status(lambda s: s.unread_count == 1, timeout=10)
        assert shopper.mark_read() == 0  # the customer's PUT is not the shopper's to send
        shopper.send("Great, swapping them now.")
        # Answering reads the customer's messages, as the scripted shopper's answers do.
        shopper.wait_for_status(lambda s: s.unread_count == 0, timeout=10)
        messages = client.chat.messages(silent_order).chat_messages
        assert [m.sender_type for m in messages] == ["driver", "user", "driver"]
        assert messages[1].read is True
        assert shopper.mark_read_calls == 0
    finally:
        customer.close()
        shopper.close()


def test_the_shopper_view_puts_its_own_messages_on_the_right(client: Any,
                                                             silent_order: str) -> None:
    panel = ChatPanel(client, silent_order, role="shopper")
    try:
        entry = panel.send("Hello from the aisle")
        assert 'class="sc-row sc-customer' in render_entry(entry, "", "shopper")  # right side
        assert "You are the shopper" in render_header(panel.model.status, "shopper")
        assert "customer" in panel._text.placeholder
    finally:
        panel.close()
    with pytest.raises(ValueError, match="role"):
        ChatModel(client, silent_order, role="driver")  # type: ignore[arg-type]


def test_the_notebook_follows_the_template() -> None:
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    cells = nb["cells"]
    assert cells[0]["cell_type"] == "markdown" and "".join(cells[0]["source"]).startswith("# ")
    assert cells[1]["metadata"].get("tags") == ["parameters"]
    lines = "".join(cells[1]["source"]).splitlines()
    for line in lines:
        assert PARAMETER.match(line), f"not `NAME: type = value  # comment`: {line}"
    for cell in cells:
        text = "".join(cell["source"])
        if cell["cell_type"] == "code":
            assert not re.search(r"^\s*(def|class) ", text, re.M), "no def/class in notebooks"
            assert len(text.splitlines()) <= 15
            assert not cell.get("outputs"), "committed without outputs (no widget state)"


def test_a_headless_run_plays_both_sides(devserver: str, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from shopper_chat.devserver import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

    monkeypatch.setenv("CONNECT_BASE_URL", devserver)
    monkeypatch.setenv("CONNECT_CLIENT_ID", DEFAULT_CLIENT_ID)
    monkeypatch.setenv("CONNECT_CLIENT_SECRET", DEFAULT_CLIENT_SECRET)
    executed = tmp_path / "09_role_play.ipynb"
    papermill.execute_notebook(str(NOTEBOOK), str(executed), cwd=str(NOTEBOOK.parent),
                               progress_bar=False)  # fmt: skip
    text = executed.read_text(encoding="utf-8")
    assert "the customer sees: Hi, I'm your shopper today." in text
    assert "the shopper sees: Yes, regular bananas are fine. Thank you!" in text
    assert "getting started on your shopping list" not in text  # nobody scripted: no greeting
    assert DEFAULT_CLIENT_SECRET not in text
