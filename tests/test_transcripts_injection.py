"""Transcripts that cannot be used for injection (issue 11).

Each format is read back the way its reader would (a CommonMark renderer, a spreadsheet's CSV
reader, an HTML parser, a JSON parser) and checked: no tag from a message survives, every message
stays one entry, and the text is what was sent.

The frames are built directly with pandas, in the shape `to_frame` gives: the renderers take any
frame with `COLUMNS`, so these tests do not depend on how messages are parsed.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.token import Token
from shopper_chat import transcripts

# The payload the outside probe found, and its relatives.
SCRIPT_URL = "https://x.test/a(<script>document.title='INJECTED'</script>"
IMAGES = [
    SCRIPT_URL,
    "https://x.test/a\n<script>alert(1)</script>",
    "https://x.test/a\r\n\r\n<div onclick=alert(1)>x</div>",
    "https://x.test/a\rb<b>x</b>",
    "https://x.test/a b)c](javascript:alert(1))",
    "https://x.test/a>b<c",
    'https://x.test/"onerror="alert(1)',
    "https://x.test/a?x=1&amp;y=<b>&lt;i&gt;",
    "https://x.test/a`code`*em*_u_|t|",
    "https://x.test/a\\)b\\>",
    "https://x.test/\u2028<script>",
    "=HYPERLINK(\"https://x.test\",\"click\")",
    "+https://x.test/a.png",
    "-https://x.test/a.png",
    "@https://x.test/a.png",
    "\t=1+1",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "",
]
BODIES = [
    "=1+1",
    "+1-1",
    "-2+3",
    "@SUM(A1:A2)",
    "\t=cmd|' /C calc'!A0",
    "\r=cmd|' /C calc'!A0",
    "=HYPERLINK(\"http://evil.test\",\"Click\")",
    "a\rb",
    "a\nb",
    "a\r\nb\r\n",
    "\r",
    "x,y;z",
    '"quoted", "twice"',
    "| a | b |\n|---|---|\n| c | d |",
    "a | b\n--|--\nc | d",
    "`code` and ``more``",
    "```\nfenced\n```",
    "~~~\nfenced\n~~~",
    "<script>document.title='INJECTED'</script>",
    "<img src=x onerror=alert(1)>",
    "<div>\n\n*block*\n\n</div>",
    "<!-- comment -->",
    "<?php echo 1; ?>",
    "<![CDATA[x]]>",
    "<http://x.test/autolink>",
    "[link](javascript:alert(1))",
    "![img](https://x.test/p.png)",
    "[ref]\n\n[ref]: https://x.test",
    "*em* **strong** _u_ __uu__ ~~s~~",
    "# heading",
    "###### small heading",
    "text\n# heading after text",
    "- item",
    "+ item",
    "* item",
    "1. item",
    "7) item",
    "---",
    "***",
    "___",
    "text\n===",
    "text\n---",
    "> quote",
    "    indented code",
    "\tindented code",
    "&lt;script&gt; &#60;b&#62; &amp;",
    "trailing backslash \\",
    "\\<script>alert(1)</script>",
    "line one  \nline two",
    "a\n\nb\n\n\nc",
    "unicode \u2028 separator \u2029 and \x0b vertical tab",
    "'already quoted",
    "plain text, nothing to see",
]
NAMES = ["=cmd", "+name", "-name", "@name", "\tname", "<b>Bold</b>", "**Star**", "Na\r\nme",
         "# Hash", "[x](y)", "Zelma"]
COUNT = 66  # as many as the probe sent: 68 rows came back then
T0 = datetime(2026, 1, 15, 17, 0, tzinfo=timezone.utc)


def payload_frame(
    bodies: Sequence[str] = BODIES,
    images: Sequence[str] = IMAGES,
    names: Sequence[str] = NAMES,
    count: int = COUNT,
) -> pd.DataFrame:
    """`count` messages that cycle through the payloads, alternating customer and shopper."""
    rows: list[dict[str, Any]] = []
    for i in range(count):
        rows.append({
            "id": i + 1,
            "created_at": T0 + timedelta(seconds=7 * i),
            "sender_role": "customer" if i % 2 else "shopper",
            "sender_name": names[i % len(names)],
            "body": bodies[i % len(bodies)],
            "image": images[i % len(images)],
            "read": bool(i % 3),
            "read_at": T0 + timedelta(seconds=7 * i + 3) if i % 3 else None,
        })
    frame = pd.DataFrame(rows, columns=list(transcripts.COLUMNS))
    frame["id"] = frame["id"].astype("int64")
    frame["read"] = frame["read"].astype("bool")
    for column in ("created_at", "read_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    for column in ("sender_role", "sender_name", "body", "image"):
        frame[column] = frame[column].astype("object")
    return frame


def shown_image(url: str) -> bool:
    return url.strip().lower().startswith(("http://", "https://"))


# -- Markdown ----------------------------------------------------------------------------------
def commonmark() -> MarkdownIt:
    # The CommonMark preset lets raw HTML through, as most viewers do; GFM tables and
    # strikethrough on too, so a message that could open a table is caught.
    return MarkdownIt("commonmark").enable(["table", "strikethrough"])


# What a transcript may contain: its own blocks, and text, breaks, emphasis and images inside.
BLOCKS = {"heading_open", "heading_close", "bullet_list_open", "bullet_list_close",
          "list_item_open", "list_item_close", "paragraph_open", "paragraph_close",
          "blockquote_open", "blockquote_close", "inline"}
INLINES = {"text", "softbreak", "hardbreak", "strong_open", "strong_close", "em_open", "em_close",
           "image"}


def top_level(tokens: list[Token]) -> list[str]:
    return [t.type for t in tokens if t.level == 0 and t.nesting >= 0]


def expected_top_level(frame: pd.DataFrame, header: bool) -> list[str]:
    expected = ["heading_open"] + (["bullet_list_open"] if header else [])
    for body, image in zip(frame["body"], frame["image"], strict=True):
        expected.append("paragraph_open")
        if body or shown_image(image):
            expected.append("blockquote_open")
    return expected


def check_markdown_structure(frame: pd.DataFrame, text: str, header: bool = False) -> None:
    tokens = commonmark().parse(text)
    assert top_level(tokens) == expected_top_level(frame, header), text
    assert {t.type for t in tokens} <= BLOCKS, text
    inlines = [child for t in tokens if t.type == "inline" for child in (t.children or [])]
    assert {t.type for t in inlines} <= INLINES, text
    for image in (t for t in inlines if t.type == "image"):
        src = str(image.attrs["src"])
        assert src.startswith(("http://", "https://")), src
        assert not set(src) & set(" \t\r\n<>\"'`\\()"), src
    rendered = commonmark().render(text)
    tags = TagCollector.of(rendered)
    assert {tag for tag, _ in tags} <= {"h1", "ul", "li", "p", "strong", "em", "blockquote",
                                        "br", "img"}, rendered
    assert not any(name.startswith("on") for _, attrs in tags for name, _ in attrs), rendered


def test_the_probes_url_renders_as_an_image_not_a_script() -> None:
    frame = payload_frame(bodies=["look"], images=[SCRIPT_URL], names=["Sierra"], count=1)
    text = transcripts.to_markdown(frame)
    check_markdown_structure(frame, text)
    rendered = commonmark().render(text)
    assert "<script" not in rendered.lower() and "INJECTED" not in rendered.replace(
        "INJECTED%27", "")
    assert '<img src="https://x.test/a%28%3Cscript%3Edocument.title=%27INJECTED%27%3C/script%3E"' \
        in rendered


def test_an_image_url_with_a_newline_stays_one_image_in_its_quote() -> None:
    frame = payload_frame(bodies=["look"], images=[IMAGES[1], IMAGES[2], IMAGES[3]],
                          names=["Sierra"], count=3)
    text = transcripts.to_markdown(frame)
    check_markdown_structure(frame, text)
    rendered = commonmark().render(text)
    assert rendered.count("<img ") == 3 and rendered.count("<blockquote>") == 3
    assert "<script" not in rendered and "<div" not in rendered and "<b>" not in rendered


def test_no_payload_opens_html_or_breaks_the_structure() -> None:
    frame = payload_frame()
    info = transcripts.TranscriptInfo(order_id="<b>o</b>", customer_name="# C", run_id="*r*",
                                      server="https://x.test/<script>")
    for text, header in ((transcripts.to_markdown(frame), False),
                         (transcripts.to_markdown(frame, title="<h2>|t|</h2>", info=info), True)):
        check_markdown_structure(frame, text, header=header)
        rendered = commonmark().render(text)
        assert rendered.count("<strong>") == COUNT  # one sender line per message
        assert rendered.count("<img ") == sum(shown_image(u) for u in frame["image"])
        assert "INJECTED" not in rendered.replace("INJECTED%27", "").replace("INJECTED'", "")


def blockquote_texts(text: str) -> list[str]:
    """The text of each quote as a reader sees it (hard breaks as newlines)."""
    out: list[str] = []
    depth = 0
    for token in commonmark().parse(text):
        if token.type == "blockquote_open":
            depth += 1
            out.append("")
        elif token.type == "blockquote_close":
            depth -= 1
        elif token.type == "inline" and depth:
            for child in token.children or []:
                out[-1] += {"text": child.content, "hardbreak": "\n",
                            "softbreak": "\n"}.get(child.type, "")
    return out


SINGLE_LINES = [b for b in BODIES if "\n" not in b and "\r" not in b and b == b.rstrip()]


def test_escaped_bodies_read_back_as_sent() -> None:
    frame = payload_frame(bodies=SINGLE_LINES, images=[""], names=["n"],
                          count=len(SINGLE_LINES))
    assert blockquote_texts(transcripts.to_markdown(frame)) == SINGLE_LINES
    lines = ["line one", "# two", "- three", "    four", "1. five"]
    frame = payload_frame(bodies=["\r\n".join(lines)], images=[""], names=["n"], count=1)
    assert blockquote_texts(transcripts.to_markdown(frame)) == ["\n".join(lines)]


MARKUP = st.sampled_from(list("<>&\\`*_[]()|~#-+=.!:;\"' \t\r\n019aZ") + ["\u2028", "\x00",
                                                                         "\x0c", "&#60;"])
TEXT = st.lists(MARKUP | st.characters(), max_size=60).map("".join)


@settings(max_examples=200, deadline=None)
@given(body=TEXT, name=TEXT, path=TEXT)
def test_no_text_can_break_the_markdown(body: str, name: str, path: str) -> None:
    frame = payload_frame(bodies=[body, "next"], images=["https://x.test/" + path, ""],
                          names=[name or "n", "m"], count=2)
    text = transcripts.to_markdown(frame)
    check_markdown_structure(frame, text)
    assert commonmark().render(text).count("<strong>") == 2, text  # each sender's name in bold


# -- CSV ---------------------------------------------------------------------------------------
FORMULA = ("=", "+", "-", "@", "\t", "\r")


def neutralised(text: str) -> str:
    """The cell a spreadsheet gets: a leading quote before a formula; U+FFFD for a lone
    surrogate, which UTF-8 cannot hold (only the JSON keeps it)."""
    text = re.sub("[\ud800-\udfff]", "\ufffd", text)
    return "'" + text if text.startswith(FORMULA) else text


def test_csv_reads_back_one_row_per_message_with_the_csv_module() -> None:
    frame = payload_frame()
    rows = list(csv.DictReader(io.StringIO(transcripts.to_csv(frame), newline="")))
    assert len(rows) == COUNT
    assert [int(r["id"]) for r in rows] == list(range(1, COUNT + 1))
    for row, (_, expected) in zip(rows, frame.iterrows(), strict=True):
        for column in ("sender_name", "body", "image", "sender_role"):
            assert row[column] == neutralised(expected[column]), (column, row)


def test_csv_reads_back_one_row_per_message_with_pandas(tmp_path: Path) -> None:
    frame = payload_frame()
    path = transcripts.write_transcript(frame, tmp_path / "transcript.csv")
    for source in (io.StringIO(transcripts.to_csv(frame)), path):
        back = pd.read_csv(source, dtype=str, keep_default_na=False)
        assert len(back) == COUNT and list(back.columns) == list(transcripts.COLUMNS)
        assert list(back["body"]) == [neutralised(b) for b in frame["body"]]
        assert list(back["image"]) == [neutralised(u) for u in frame["image"]]
        assert list(back["sender_name"]) == [neutralised(n) for n in frame["sender_name"]]


def test_csv_cells_that_would_start_a_formula_start_with_a_quote() -> None:
    frame = payload_frame()
    rows = list(csv.reader(io.StringIO(transcripts.to_csv(frame), newline="")))
    cells = [cell for row in rows[1:] for cell in row]
    assert not [cell for cell in cells if cell.startswith(FORMULA)]
    quoted = [cell for cell in cells if cell.startswith("'")]
    # Every formula payload among bodies, images and names, once per message carrying it.
    originals = [v for column in ("body", "image", "sender_name") for v in frame[column]]
    assert len(quoted) == sum(v.startswith(FORMULA) for v in originals) + sum(
        v.startswith("'") for v in originals)
    assert "'=1+1" in cells and "'@SUM(A1:A2)" in cells and "'\r=cmd|' /C calc'!A0" in cells
    assert "'=cmd" in cells and "'\tname" in cells and "'+https://x.test/a.png" in cells


def test_every_field_with_a_line_break_is_quoted() -> None:
    text = transcripts.to_csv(payload_frame())
    # Outside quotes, the only line breaks are the record ends.
    outside, inside = [], False
    for char in text:
        if char == '"':
            inside = not inside
        elif not inside:
            outside.append(char)
    assert "".join(outside).count("\r\n") == COUNT + 1
    assert "".join(outside).replace("\r\n", "").count("\r") == 0
    assert "".join(outside).replace("\r\n", "").count("\n") == 0


@settings(max_examples=100, deadline=None)
@given(body=TEXT, name=TEXT)
def test_any_text_is_one_csv_row(body: str, name: str) -> None:
    frame = payload_frame(bodies=[body, "x"], names=[name, "n"], images=[""], count=2)
    back = pd.read_csv(io.StringIO(transcripts.to_csv(frame)), dtype=str, keep_default_na=False)
    assert len(back) == 2
    rows = list(csv.DictReader(io.StringIO(transcripts.to_csv(frame), newline="")))
    assert rows[0]["body"] == neutralised(body) and rows[0]["sender_name"] == neutralised(name)


# -- HTML --------------------------------------------------------------------------------------
class TagCollector(HTMLParser):
    """Every start tag with its attributes, and each bubble's own text (the body)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.bodies: list[str] = []
        self._in_bubble = False

    @classmethod
    def of(cls, page: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
        parser = cls()
        parser.feed(page)
        parser.close()
        return parser.tags

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        classes = (dict(attrs).get("class") or "").split()
        if "sc-bubble" in classes:
            self._in_bubble = True
            self.bodies.append("")
        elif self._in_bubble:  # the figure of an image: the body has ended
            self._in_bubble = False

    def handle_endtag(self, tag: str) -> None:
        self._in_bubble = False

    def handle_data(self, data: str) -> None:
        if self._in_bubble:
            self.bodies[-1] += data


HTML_TAGS = {"html", "head", "meta", "title", "body", "style", "div", "header", "h1", "dl", "dt",
             "dd", "p", "figure", "a", "span", "img", "time"}


def test_html_escapes_every_message_field_and_the_header() -> None:
    frame = payload_frame()
    info = transcripts.TranscriptInfo(
        order_id="<script>o</script>", customer_name="<img src=x onerror=alert(1)>",
        customer_id='"><b>', shopper_name="<i>s</i>", shopper_id="&amp;", run_id="<u>r</u>",
        server="https://x.test/<script>", date=T0,
    )
    page = transcripts.to_html(frame, title="</title><script>t</script>", info=info)
    parser = TagCollector()
    parser.feed(page)
    parser.close()
    assert {tag for tag, _ in parser.tags} <= HTML_TAGS
    assert sum(1 for tag, _ in parser.tags if tag == "script") == 0
    for tag, attrs in parser.tags:
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name)
            if name in ("src", "href"):
                assert (value or "").startswith(("http://", "https://", "data:image/")), value
    rows = [attrs for _, attrs in parser.tags if "data-message-id" in dict(attrs)]
    assert len(rows) == COUNT
    assert parser.bodies == list(frame["body"])
    images = [dict(attrs)["src"] for tag, attrs in parser.tags if tag == "img"]
    assert images == [u.strip() for u in frame["image"] if shown_image(u)]


@settings(max_examples=100, deadline=None)
@given(body=TEXT, name=TEXT, path=TEXT)
def test_no_text_adds_a_tag_to_the_html(body: str, name: str, path: str) -> None:
    def tags(b: str, n: str, p: str) -> list[str]:
        frame = payload_frame(bodies=[b], names=[n], images=["https://x.test/" + p], count=1)
        return [tag for tag, _ in TagCollector.of(transcripts.to_html(frame))]

    assert tags(body, name, path) == tags("x", "n", "p")


# -- JSON --------------------------------------------------------------------------------------
def test_json_round_trips_every_payload_exactly() -> None:
    frame = payload_frame()
    records = json.loads(transcripts.to_json(frame))
    assert len(records) == COUNT
    for record, (_, row) in zip(records, frame.iterrows(), strict=True):
        assert record == {
            "id": row["id"],
            "created_at": row["created_at"].strftime("%Y-%m-%dT%H:%M:%SZ"),
            "sender_role": row["sender_role"],
            "sender_name": row["sender_name"],
            "body": row["body"],
            "image": row["image"],
            "read": row["read"],
            "read_at": None if pd.isna(row["read_at"])
            else row["read_at"].strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


@settings(max_examples=100, deadline=None)
@given(body=TEXT, name=TEXT, image=TEXT)
def test_json_keeps_any_text(body: str, name: str, image: str) -> None:
    frame = payload_frame(bodies=[body], names=[name], images=[image], count=1)
    (record,) = json.loads(transcripts.to_json(frame))
    assert (record["body"], record["sender_name"], record["image"]) == (body, name, image)


def test_a_lone_surrogate_is_written_and_the_json_keeps_it(tmp_path: Path) -> None:
    # JSON's "\ud800" escape decodes to a lone surrogate, which UTF-8 cannot encode.
    frame = payload_frame(bodies=["a\ud800b"], names=["\udfffn"], images=["https://x.test/\ud800"],
                          count=1)
    written = transcripts.write_transcripts(frame, tmp_path)
    (record,) = json.loads(written["json"].read_text(encoding="utf-8"))
    assert (record["body"], record["sender_name"]) == ("a\ud800b", "\udfffn")
    assert "a\ufffdb" in written["md"].read_text(encoding="utf-8")
    assert "a\ufffdb" in written["html"].read_text(encoding="utf-8")
    assert "a\ufffdb" in written["csv"].read_text(encoding="utf-8")


@pytest.mark.parametrize("suffix", ["md", "html", "csv", "json"])
def test_written_files_are_the_rendered_text_byte_for_byte(tmp_path: Path, suffix: str) -> None:
    frame = payload_frame()
    path = transcripts.write_transcript(frame, tmp_path / f"t.{suffix}")
    render = {"md": transcripts.to_markdown, "html": transcripts.to_html,
              "csv": transcripts.to_csv, "json": transcripts.to_json}[suffix]
    assert path.read_bytes() == render(frame).encode("utf-8")
