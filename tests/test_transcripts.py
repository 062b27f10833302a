"""Transcripts: the frame's columns, and pure renderers that escape every message."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shopper_chat import Conversation, transcripts

INJECTION = '<script>alert("x")</script><img src=x onerror=alert(1)>'
PICTURE = "data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciLz4="


def conversation() -> Conversation:
    def msg(
        i: int, sender: str, body: str, image: str = "", read: bool = False
    ) -> dict[str, object]:
        return {
            "id": i, "order_id": 555, "created_at": f"2026-01-15T17:0{i}:00Z",
            "recipient_id": "", "recipient_type": "user" if sender == "driver" else "driver",
            "sender_id": "23728249" if sender == "driver" else "789012", "sender_type": sender,
            "read": read, "read_at": f"2026-01-15T17:0{i}:30Z" if read else None,
            "body": body, "image": image,
        }

    return Conversation.model_validate({
        "chat_messages": [
            msg(1, "driver", "Hi, this is Zelma, your shopper.", read=True),
            msg(2, "user", "Hi, this is Sierra.\nThanks!"),
            msg(3, "driver", "Would this work instead?", image="https://img.example/b.png"),
            msg(4, "user", INJECTION, image="javascript:alert(1)"),
            msg(5, "user", "Thanks, that works.", read=True),
            msg(6, "driver", "This one?", image=PICTURE),
        ],
        "metadata": {"customer": {"id": 789012, "display_name": "Sierra"},
                     "shoppers": [{"id": 23728249, "display_name": "Zelma",
                                   "avatar_url": "http://example.com"}],
                     "is_expired": False},
    })


@pytest.fixture()
def frame() -> pd.DataFrame:
    return transcripts.to_frame(conversation())


def test_frame_has_one_row_per_message_with_the_design_columns(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == ["id", "created_at", "sender_role", "sender_name", "body",
                                   "image", "read", "read_at"]
    assert list(frame["id"]) == [1, 2, 3, 4, 5, 6]
    assert list(frame["sender_role"]) == ["shopper", "customer", "shopper", "customer",
                                          "customer", "shopper"]
    assert list(frame["sender_name"]) == ["Zelma", "Sierra", "Zelma", "Sierra", "Sierra", "Zelma"]
    assert str(frame["created_at"].dt.tz) == "UTC"
    assert list(frame["read"]) == [True, False, False, False, True, False]
    assert pd.isna(frame["read_at"][1]) and not pd.isna(frame["read_at"][0])


def test_an_empty_conversation_makes_an_empty_frame_that_renders() -> None:
    empty = transcripts.to_frame([])
    assert empty.empty and list(empty.columns) == list(transcripts.COLUMNS)
    assert "No messages" in transcripts.to_html(empty)
    assert "No messages" in transcripts.to_markdown(empty)
    assert json.loads(transcripts.to_json(empty)) == []


def test_html_has_bubbles_on_each_side_images_and_read_ticks(frame: pd.DataFrame) -> None:
    page = transcripts.to_html(frame)
    assert page.startswith("<!DOCTYPE html>")
    assert page.count('class="sc-row sc-shopper"') == 3
    assert page.count('class="sc-row sc-customer"') == 3
    assert '<img src="https://img.example/b.png"' in page
    assert f'<img src="{PICTURE}"' in page  # a picture carried in the message itself
    # Ticks on the customer's side (read by the shopper: message 5 only), unread markers on
    # the shopper's messages the customer has not read (3 and 6).
    assert page.count("✓✓") == 1 and page.count('class="sc-ticks"') == 2
    assert page.count('class="sc-unread"') == 2
    fragment = transcripts.to_html(frame, standalone=False)
    assert not fragment.startswith("<!DOCTYPE") and "<style>" in fragment


def test_html_never_lets_a_message_inject_markup(frame: pd.DataFrame) -> None:
    page = transcripts.to_html(frame)
    assert "<script>" not in page and "onerror=alert" not in page.replace("onerror=alert(1)&gt;",
                                                                          "")
    assert "&lt;script&gt;" in page
    assert "javascript:" not in page  # a non-http image is not rendered
    other = frame.copy()
    other.loc[3, "image"] = "data:text/html;base64,PHNjcmlwdD4="
    assert "data:text/html" not in transcripts.to_html(other)  # only pictures travel as data


def test_markdown_quotes_text_escapes_html_and_links_images(frame: pd.DataFrame) -> None:
    text = transcripts.to_markdown(frame)
    assert "**Zelma** (shopper) · 2026-01-15 17:01 UTC · read" in text
    assert "**Zelma** (shopper) · 2026-01-15 17:03 UTC · unread" in text
    assert "**Sierra** (customer) · 2026-01-15 17:02 UTC · ✓ sent" in text
    assert "**Sierra** (customer) · 2026-01-15 17:05 UTC · ✓✓ read" in text
    assert "a picture, embedded in the message" in text and PICTURE not in text
    assert "> Hi, this is Sierra.  \n> Thanks!" in text
    assert "![image](https://img.example/b.png)" in text
    assert "<script>" not in text and "javascript:" not in text


def test_csv_and_json_round_trip_the_rows(frame: pd.DataFrame) -> None:
    rows = list(csv.DictReader(io.StringIO(transcripts.to_csv(frame))))
    assert [r["id"] for r in rows] == ["1", "2", "3", "4", "5", "6"]
    assert rows[0]["created_at"] == "2026-01-15T17:01:00Z" and rows[1]["read_at"] == ""
    assert rows[3]["body"] == INJECTION
    records = json.loads(transcripts.to_json(frame))
    assert records[0] == {"id": 1, "created_at": "2026-01-15T17:01:00Z", "sender_role": "shopper",
                          "sender_name": "Zelma", "body": "Hi, this is Zelma, your shopper.",
                          "image": "", "read": True, "read_at": "2026-01-15T17:01:30Z"}


def test_renderers_are_pure(frame: pd.DataFrame) -> None:
    before = frame.copy()
    for render in (transcripts.to_markdown, transcripts.to_html, transcripts.to_csv,
                   transcripts.to_json):
        assert render(frame) == render(frame)
    pd.testing.assert_frame_equal(frame, before)


def test_writers_choose_the_format_by_suffix(frame: pd.DataFrame, tmp_path: Path) -> None:
    assert transcripts.write_transcript(frame, tmp_path / "a.HTML").read_text().startswith(
        "<!DOCTYPE html>")
    assert json.loads((transcripts.write_transcript(frame, tmp_path / "x" / "a.json"))
                      .read_text())[0]["id"] == 1
    with pytest.raises(ValueError, match="unknown transcript format"):
        transcripts.write_transcript(frame, tmp_path / "a.txt")
    written = transcripts.write_transcripts(frame, tmp_path / "run")
    assert sorted(p.name for p in written.values()) == [
        "transcript.csv", "transcript.html", "transcript.json", "transcript.md"]
    assert written["md"].read_text(encoding="utf-8") == transcripts.to_markdown(frame)


def _row_html(frame: pd.DataFrame, body: str, name: str) -> str:
    frame = frame.copy()
    frame.loc[1, "body"] = body
    frame.loc[1, "sender_name"] = name
    page = transcripts.to_html(frame, standalone=False)
    return page.split('data-message-id="2"', 1)[1].split('data-message-id="3"', 1)[0]


@settings(max_examples=60, deadline=None)
@given(body=st.text(max_size=200), name=st.text(max_size=30))
def test_no_body_or_name_can_inject_markup(body: str, name: str) -> None:
    frame = transcripts.to_frame(conversation())
    row = _row_html(frame, body, name)
    plain = _row_html(frame, "x", "n")
    # The same tags as for a harmless message: the text's own "<" and ">" are all escaped.
    assert row.count("<") == plain.count("<") and row.count(">") == plain.count(">")
    frame.loc[1, "body"] = body
    frame.loc[1, "sender_name"] = name
    assert "<" not in transcripts.to_markdown(frame)
