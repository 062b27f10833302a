"""The chat panel in a real browser: JupyterLab, the panel notebook and headless Chromium.

The development server runs on loopback (the `devserver` fixture); JupyterLab serves a copy of
the notebooks folder and its kernels reach that server through CONNECT_BASE_URL. The test runs the
notebook, sees the greeting, types a message and presses Enter, sees it and the shopper's answer
arrive, sees the answer go from unread to read, and saves a screenshot under outputs/screenshots/.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = "07_chat_panel.ipynb"
SCREENSHOTS = REPO / "outputs" / "screenshots"
GREETING = "getting started on your shopping list"
TYPED = "Could you also get oat milk, please?"
WAIT_MS = 45_000  # generous for a busy 2-core CI machine; the whole test stays under 2 min

KERNEL_IDLE = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.status === "idle" && !w.sessionContext.isRestarting;
}"""
CELLS_DONE = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  const k = w.sessionContext.session.kernel;
  const busy = [...document.querySelectorAll(".jp-InputPrompt")]
      .some((p) => p.textContent.includes("[*]"));
  return k.status === "idle" && !busy;
}"""


def _notebook_copy(folder: Path, output_dir: Path) -> None:
    """The panel notebook with the test's parameters injected after its parameters cell."""
    nb = nbformat.read(REPO / "notebooks" / NOTEBOOK, as_version=4)
    index = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    injected = nbformat.v4.new_code_cell(
        # Two seconds on screen before "seen": long enough to watch the unread marker go. A tall
        # message area keeps every message on screen, so the user need not scroll to see them.
        f"SEEN_AFTER = 2.0\nPANEL_HEIGHT = '640px'\nOUTPUT_DIR = {str(output_dir)!r}\n",
        metadata={"tags": ["injected-parameters"]},
    )
    nb.cells.insert(index + 1, injected)
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / NOTEBOOK)


@pytest.fixture()
def lab_env(devserver: str) -> dict[str, str]:
    from shopper_chat.devserver import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECT_")}
    env.update(
        CONNECT_BASE_URL=devserver,
        CONNECT_CLIENT_ID=DEFAULT_CLIENT_ID,
        CONNECT_CLIENT_SECRET=DEFAULT_CLIENT_SECRET,
    )
    return env


def test_chat_panel_in_jupyterlab(
    lab_env: dict[str, str], browser: Any, jupyter_lab: Callable[..., Any], tmp_path: Path
) -> None:
    from playwright.sync_api import Browser, Page, expect

    assert isinstance(browser, Browser)
    root = tmp_path / "notebooks"
    _notebook_copy(root, tmp_path / "transcript")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    start = time.monotonic()

    def mark(step: str) -> None:
        timings[step] = round(time.monotonic() - start, 2)

    lab = jupyter_lab(root, lab_env)
    mark("jupyterlab_started")
    page: Page = browser.new_page(viewport={"width": 1280, "height": 1200})
    page.set_default_timeout(WAIT_MS)
    try:
        page.goto(lab.notebook_url(NOTEBOOK))
        page.wait_for_selector(".jp-NotebookPanel .jp-Notebook")
        _accept_kernel_dialog(page)
        page.wait_for_function(KERNEL_IDLE)
        mark("kernel_ready")

        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        panel = page.locator(".sc-panel").first
        panel.wait_for(state="attached")
        panel.scroll_into_view_if_needed()
        greeting = panel.locator(".sc-shopper", has_text=GREETING)
        expect(greeting).to_be_visible()
        mark("greeting_seen")

        page.wait_for_function(CELLS_DONE)  # the notebook's own round trip has finished
        _fail_on_cell_error(page)
        mark("all_cells_ran")
        panel.scroll_into_view_if_needed()
        shopper_bubbles = panel.locator(".sc-row.sc-shopper")
        before = shopper_bubbles.count()

        box = panel.locator(".sc-input input")
        box.click()
        box.fill(TYPED)
        expect(panel.locator(".sc-counter")).to_have_text(f"{len(TYPED)} / 1000")
        box.press("Enter")
        expect(panel.locator(".sc-row.sc-customer", has_text=TYPED)).to_be_visible()
        mark("customer_bubble_seen")
        expect(box).to_have_value("")
        expect(box).to_be_focused()  # ready for the next message

        expect(shopper_bubbles).to_have_count(before + 1)
        answer = shopper_bubbles.last
        mark("shopper_answer_seen")
        # The answer arrives unread (marker and header badge), then is marked read once it
        # has been on screen for SEEN_AFTER seconds.
        expect(answer.locator(".sc-new")).to_be_visible()
        expect(panel.locator(".sc-unread-badge")).to_be_visible()
        # The README's picture: the answer just arrived, still unread.
        panel.screenshot(path=str(SCREENSHOTS / "chat-panel.png"))
        # The shopper's answer also marks the customer's message read: the tick turns.
        mine = panel.locator(".sc-row.sc-customer", has_text=TYPED)
        expect(mine.locator(".sc-receipt.sc-read")).to_be_visible()
        expect(answer.locator(".sc-new")).to_have_count(0)
        expect(panel.locator("[data-sc-unread='1']")).to_have_count(0)
        expect(panel.locator(".sc-unread-badge")).to_have_count(0)
        expect(panel.locator(".sc-poll.sc-live")).to_be_visible()
        mark("answer_marked_read")

        page.mouse.move(0, 0)
        page.wait_for_timeout(300)  # let the last re-render settle before the picture
        panel.screenshot(path=str(SCREENSHOTS / "chat-panel-read.png"))
        page.screenshot(path=str(SCREENSHOTS / "chat-panel-lab.png"))
    except Exception:
        page.screenshot(path=str(SCREENSHOTS / "chat-panel-failure.png"))
        raise
    finally:
        page.close()
    mark("done")
    (SCREENSHOTS / "chat-panel-timings.json").write_text(json.dumps(timings, indent=2) + "\n")
    transcript = tmp_path / "transcript"
    assert any(transcript.glob("transcript.*")), "the notebook saved no transcript"
    shutil.rmtree(root, ignore_errors=True)


def _accept_kernel_dialog(page: object) -> None:
    """JupyterLab may ask which kernel to start: take its default."""
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if page.evaluate(KERNEL_IDLE):
            return
        dialog = page.locator(".jp-Dialog .jp-mod-accept")
        if dialog.count():
            dialog.first.click()
            return
        page.wait_for_timeout(200)


def _fail_on_cell_error(page: object) -> None:
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    if errors.count():
        text = errors.first.inner_text()
        if "Traceback" in text or "Error" in text:
            pytest.fail(f"A notebook cell failed in JupyterLab: {text[-600:]}", pytrace=False)


ROLE_PLAY = "09_role_play.ipynb"


def test_role_play_panels_in_jupyterlab(
    lab_env: dict[str, str], browser: Any, jupyter_lab: Callable[..., Any], tmp_path: Path
) -> None:
    """The role-play notebook: a person types as the shopper in one panel and as the customer in
    the other, and each message shows on both sides of the one order."""
    from playwright.sync_api import Browser, Page, expect

    assert isinstance(browser, Browser)
    root = tmp_path / "notebooks"
    root.mkdir(parents=True)
    shutil.copy(REPO / "notebooks" / ROLE_PLAY, root / ROLE_PLAY)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    lab = jupyter_lab(root, lab_env)
    page: Page = browser.new_page(viewport={"width": 1400, "height": 1200})
    page.set_default_timeout(WAIT_MS)
    try:
        page.goto(lab.notebook_url(ROLE_PLAY))
        page.wait_for_selector(".jp-NotebookPanel .jp-Notebook")
        _accept_kernel_dialog(page)
        page.wait_for_function(KERNEL_IDLE)
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        panels = page.locator(".sc-panel")
        expect(panels).to_have_count(2)
        page.wait_for_function(CELLS_DONE)  # the notebook played both sides once
        _fail_on_cell_error(page)
        customer, shopper = panels.nth(0), panels.nth(1)
        customer.scroll_into_view_if_needed()
        expect(shopper.locator(".sc-header")).to_contain_text("You are the shopper")

        said = "Found ripe ones in the back: six of them?"
        box = shopper.locator(".sc-input input")
        box.click()
        box.fill(said)
        box.press("Enter")
        expect(shopper.locator(".sc-row.sc-customer", has_text=said)).to_be_visible()  # mine
        expect(customer.locator(".sc-row.sc-shopper", has_text=said)).to_be_visible()  # theirs

        answer = "Six is perfect, thanks!"
        box = customer.locator(".sc-input input")
        box.click()
        box.fill(answer)
        box.press("Enter")
        expect(customer.locator(".sc-row.sc-customer", has_text=answer)).to_be_visible()
        expect(shopper.locator(".sc-row.sc-shopper", has_text=answer)).to_be_visible()
        # The customer's panel marks the shopper's messages read once seen; the shopper sees it.
        expect(shopper.locator(".sc-row.sc-customer", has_text=said)
               .locator(".sc-receipt.sc-read")).to_be_visible()
        page.mouse.move(0, 0)
        page.wait_for_timeout(300)
        page.locator(".jp-OutputArea-output", has=panels.first).first.screenshot(
            path=str(SCREENSHOTS / "role-play.png"))
    except Exception:
        page.screenshot(path=str(SCREENSHOTS / "role-play-failure.png"))
        raise
    finally:
        page.close()
    shutil.rmtree(root, ignore_errors=True)
