"""Transcripts opened in a real browser (headless Chromium), as the outside probe opened them.

- The Markdown transcript, rendered by markdown-it (raw HTML allowed, as most viewers do), runs
  nothing from a message: the probe's `document.title='INJECTED'` URL used to run.
- In the HTML transcript, a picture that cannot load leaves the same tile as no picture at all
  (no broken-image icon), and a `data:image/...` picture displays.
"""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from markdown_it import MarkdownIt
from shopper_chat import transcripts

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
# Nothing listens on the discard port: the picture fails at once, without leaving the machine.
UNREACHABLE = "http://127.0.0.1:9/images/green-bananas.jpg"
SVG = ("data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciIHdpZHRoP"
       "SI0MCIgaGVpZ2h0PSIzMCI+PHJlY3Qgd2lkdGg9IjQwIiBoZWlnaHQ9IjMwIiBmaWxsPSJvcmFuZ2UiLz48L3N2Zz4=")
PAYLOADS = [
    ("look", "https://x.test/a(<script>document.title='INJECTED'</script>"),
    ("nl", "https://x.test/a\n<script>document.title='INJECTED'</script>"),
    ("<script>document.title='INJECTED'</script>", ""),
    ("<img src=x onerror=\"document.title='INJECTED'\">", ""),
    ("a\r<img src=x onerror=\"document.title='INJECTED'\">", ""),
    ("[x](javascript:document.title='INJECTED')", ""),
]


# The largest difference of one colour channel between two screenshots, drawn in the page.
LARGEST_DIFFERENCE = """async ([a, b]) => {
  const load = (src) => new Promise((done) => {
    const img = new Image(); img.onload = () => done(img); img.src = src; });
  const pixels = (img) => {
    const canvas = document.createElement("canvas");
    canvas.width = img.width; canvas.height = img.height;
    const g = canvas.getContext("2d"); g.drawImage(img, 0, 0);
    return g.getImageData(0, 0, img.width, img.height).data; };
  const [p, q] = (await Promise.all([load(a), load(b)])).map(pixels);
  if (p.length !== q.length) return 255;
  let largest = 0;
  for (let k = 0; k < p.length; k++) largest = Math.max(largest, Math.abs(p[k] - q[k]));
  return largest;
}"""


def png(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if shutil.which(str(CHROMIUM)) is None:
        pytest.fail("Chromium is missing at /usr/bin/chromium: install it (Debian: apt-get "
                    "install chromium, which `make test` does) to run the browser tests.",
                    pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def frame(rows: list[tuple[str, str]]) -> pd.DataFrame:
    start = datetime(2026, 1, 15, 17, 0, tzinfo=timezone.utc)
    data = pd.DataFrame(
        [{"id": i + 1, "created_at": start, "sender_role": "customer" if i % 2 else "shopper",
          "sender_name": "Sierra" if i % 2 else "Zelma", "body": body, "image": image,
          "read": False, "read_at": None} for i, (body, image) in enumerate(rows)],
        columns=list(transcripts.COLUMNS),
    )
    data["created_at"] = pd.to_datetime(data["created_at"], utc=True)
    data["read_at"] = pd.to_datetime(data["read_at"], utc=True)
    return data


def test_the_markdown_rendered_and_opened_runs_nothing_from_a_message(browser: Any) -> None:
    markdown = transcripts.to_markdown(frame(PAYLOADS))
    page_html = MarkdownIt("commonmark").render(markdown)  # html=True: raw HTML would pass
    page = browser.new_page()
    try:
        page.set_content(f"<!DOCTYPE html><title>clean</title><body>{page_html}</body>")
        page.wait_for_load_state("load")
        assert page.title() == "clean"
        assert page.locator("script").count() == 0
        assert page.locator("blockquote").count() == len(PAYLOADS)
        assert page.locator("a").count() == 0
    finally:
        page.close()


def test_a_picture_that_cannot_load_leaves_a_tidy_tile(browser: Any) -> None:
    page_html = transcripts.to_html(frame([("Would this work?", UNREACHABLE), ("This one?", SVG)]))
    page = browser.new_page(viewport={"width": 700, "height": 900})
    try:
        page.set_content(page_html)
        page.wait_for_function("[...document.images].every((i) => i.complete)")
        broken, inline = page.locator("img").all()
        assert broken.evaluate("(i) => i.naturalWidth") == 0
        assert inline.evaluate("(i) => i.naturalWidth") > 0  # the data: picture displays
        assert broken.evaluate("(i) => getComputedStyle(i, '::after').content") == (
            '"image · green-bananas.jpg"')
        # The failed picture's tile looks like the tile with no picture in it. Anti-aliasing
        # differs by a few levels; the broken-image icon and its border differ by over 150.
        figure = page.locator("figure").first
        with_picture = figure.screenshot()
        broken.evaluate("(i) => i.remove()")
        without = figure.screenshot()
        assert page.evaluate(LARGEST_DIFFERENCE, [png(with_picture), png(without)]) <= 40
    finally:
        page.close()
