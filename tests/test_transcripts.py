"""Transcripts: the frame's columns, and pure renderers that escape every message."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
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
    assert "**Zelma** (shopper) · 2026-01-15 17:01:00 UTC · read" in text
    assert "**Zelma** (shopper) · 2026-01-15 17:03:00 UTC · unread" in text
    assert "**Sierra** (customer) · 2026-01-15 17:02:00 UTC · ✓ sent" in text
    assert "**Sierra** (customer) · 2026-01-15 17:05:00 UTC · ✓✓ read" in text
    assert "a picture, embedded in the message" in text and PICTURE not in text
    assert "> Hi, this is Sierra.  \n> Thanks!" in text
    assert "![image](<https://img.example/b.png>)" in text
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
    # The only "<" in the Markdown opens the one image URL (`![image](<...>)`); the rest is text.
    assert transcripts.to_markdown(frame).count("<") == 1


# -- the header, times to the second, the image tile (issue 10) ----------------------------------
RUN_INFO = transcripts.TranscriptInfo(
    order_id="order-f2a74de4",
    run_id="20260115-170000-ab12",
    server="https://client:s3cret@connect.example/path?access_token=tok#frag",
    date=datetime(2026, 1, 15, 17, 0, 42, tzinfo=timezone.utc),
)


def test_to_frame_keeps_the_participants_and_the_order_for_the_header(
    frame: pd.DataFrame,
) -> None:
    assert frame.attrs["customer_name"] == "Sierra" and frame.attrs["customer_id"] == "789012"
    assert frame.attrs["shoppers"] == (("23728249", "Zelma"),)
    assert frame.attrs["order_id"] == "555"
    assert transcripts.to_frame([]).attrs["order_id"] == ""


def test_markdown_and_html_open_with_what_the_conversation_says(frame: pd.DataFrame) -> None:
    text = transcripts.to_markdown(frame)
    assert text.startswith("# Chat transcript\n\n- Order: 555\n- Customer: Sierra (789012)\n"
                           "- Shopper: Zelma (23728249)\n\n**Zelma**")
    page = transcripts.to_html(frame)
    header = page.split('<header class="sc-head">', 1)[1].split("</header>", 1)[0]
    assert page.index("<header") < page.index("data-message-id")
    assert '<h1 class="sc-title">Chat transcript</h1>' in header
    assert "<dt>Order</dt><dd>555</dd>" in header
    assert "<dt>Customer</dt><dd>Sierra (789012)</dd>" in header
    assert "<dt>Shopper</dt><dd>Zelma (23728249)</dd>" in header
    assert "<dt>Run</dt>" not in header  # nothing is said that is not known
    assert '<div class="sc-title">' in transcripts.to_html(frame, standalone=False)


def test_the_header_adds_the_run_the_server_and_the_date(frame: pd.DataFrame) -> None:
    text = transcripts.to_markdown(frame, info=RUN_INFO)
    assert ("- Order: order-f2a74de4\n- Customer: Sierra (789012)\n- Shopper: Zelma (23728249)\n"
            "- Run: 20260115-170000-ab12\n- Server: https://connect.example/path\n"
            "- Date: 2026-01-15 17:00:42 UTC\n") in text
    page = transcripts.to_html(frame, info=RUN_INFO)
    assert "<dt>Server</dt><dd>https://connect.example/path</dd>" in page
    assert "<dt>Date</dt><dd>2026-01-15 17:00:42 UTC</dd>" in page
    for secret in ("s3cret", "client:", "access_token", "tok", "frag"):
        assert secret not in text and secret not in page


def test_the_header_names_can_be_given(frame: pd.DataFrame) -> None:
    info = transcripts.TranscriptInfo(customer_name="Sam", customer_id="c-1", shopper_name="Ada",
                                      shopper_id="s-9", server="embedded")
    text = transcripts.to_markdown(transcripts.to_frame([]), info=info)
    assert "- Customer: Sam (c-1)\n- Shopper: Ada (s-9)\n- Server: embedded\n" in text
    two = frame.copy()
    two.attrs["shoppers"] = (("1", "Zelma"), ("2", "Bob"))
    assert "- Shopper: Zelma (1), Bob (2)\n" in transcripts.to_markdown(two)


@pytest.mark.parametrize("server", [
    "https://user:pw@api.example:8443/v2/?token=t", "http://[::1]:8765", "http://127.0.0.1:8765",
    "not a url but=secret", "https://api.example:99999/", "",
])
def test_the_server_line_never_carries_a_credential(frame: pd.DataFrame, server: str) -> None:
    text = transcripts.to_markdown(frame, info=transcripts.TranscriptInfo(server=server))
    line = next((x for x in text.splitlines() if x.startswith("- Server:")), "")
    assert not any(s in line for s in ("user", "pw", "token", "secret", "=")), line
    expected = {"https://user:pw@api.example:8443/v2/?token=t": "https://api.example:8443/v2/",
                "http://[::1]:8765": "http://[::1]:8765",
                "http://127.0.0.1:8765": "http://127.0.0.1:8765"}
    # Markdown escapes the brackets of an IPv6 host; a renderer shows them as brackets.
    shown = expected.get(server, "").replace("[", "\\[").replace("]", "\\]")
    assert line == (f"- Server: {shown}" if shown else "")
    page = transcripts.to_html(frame, info=transcripts.TranscriptInfo(server=server))
    assert (f"<dt>Server</dt><dd>{expected[server]}</dd>" in page) if server in expected else (
        "<dt>Server</dt>" not in page)


def test_the_writers_pass_the_header_to_the_pages_only(frame: pd.DataFrame, tmp_path: Path) -> None:
    written = transcripts.write_transcripts(frame, tmp_path, info=RUN_INFO)
    assert "- Run: 20260115-170000-ab12" in written["md"].read_text(encoding="utf-8")
    assert "<dt>Run</dt>" in written["html"].read_text(encoding="utf-8")
    assert written["csv"].read_bytes() == transcripts.to_csv(frame).encode()
    assert written["json"].read_bytes() == transcripts.to_json(frame).encode()
    one = transcripts.write_transcript(frame, tmp_path / "one.md", info=RUN_INFO)
    assert one.read_text(encoding="utf-8") == transcripts.to_markdown(frame, info=RUN_INFO)


def test_times_are_shown_to_the_second(frame: pd.DataFrame) -> None:
    # Under a frozen clock a whole conversation happens within a minute.
    quick = frame.copy()
    quick["created_at"] = pd.to_datetime(
        [f"2026-01-15T17:00:{s:02d}Z" for s in (0, 7, 7, 19, 42, 59)], utc=True)
    text = transcripts.to_markdown(quick)
    page = transcripts.to_html(quick)
    for second in ("00", "07", "19", "42", "59"):
        assert f"2026-01-15 17:00:{second} UTC" in text
        assert f">2026-01-15 17:00:{second} UTC</time>" in page


def test_html_images_sit_on_a_tile_that_stays_when_they_cannot_load(frame: pd.DataFrame) -> None:
    page = transcripts.to_html(frame)
    url = "https://img.example/b.png"
    assert (
        f'<figure class="sc-image"><a class="sc-image-link" href="{url}" target="_blank" '
        'rel="noopener noreferrer"><span class="sc-image-label">image · b.png</span>'
        f'<img src="{url}" alt="" ') in page
    # A picture carried in the message still displays, on the same tile, with no link.
    assert (f'<figure class="sc-image"><span class="sc-image-link"><span class="sc-image-label">'
            f'image (in the message)</span><img src="{PICTURE}" alt="" ') in page
    # The fallback is CSS: the tile behind, and over a picture that failed its ::after (which a
    # loaded picture does not draw) hides the broken-image icon. No script, no onerror.
    assert ".sc-image img::after{content:attr(data-label)" in page
    assert "onerror" not in page.lower().replace("onerror=alert(1)&gt;", "")
    assert "<script" not in page.lower()


@pytest.mark.parametrize("url", ["https://[::1/x.png", "http://[", "https://x.test/" + "a" * 80])
def test_any_http_url_gets_a_tile(frame: pd.DataFrame, url: str) -> None:
    odd = frame.copy()
    odd.loc[2, "image"] = url
    page = transcripts.to_html(odd)
    assert f'<img src="{url}" alt=""' in page and 'class="sc-image-label">image' in page
    assert f"<{url}>" in transcripts.to_markdown(odd).replace("%5B", "[")


def test_without_sender_types_the_metadata_ids_tell_who_spoke() -> None:
    # The tutorial's example leaves sender_type and recipient_type empty; a real server may too.
    def untyped(i: int, sender_id: str, recipient_id: str = "") -> dict[str, object]:
        return {"id": i, "order_id": 555, "created_at": f"2026-01-15T17:0{i}:00Z",
                "recipient_id": recipient_id, "recipient_type": "", "sender_id": sender_id,
                "sender_type": "", "read": False, "read_at": None, "body": f"m{i}", "image": ""}

    chat = Conversation.model_validate({
        "chat_messages": [untyped(1, "23728249"), untyped(2, "789012"),
                          untyped(3, "", recipient_id="789012"), untyped(4, "")],
        "metadata": {"customer": {"id": 789012, "display_name": "Sierra"},
                     "shoppers": [{"id": 23728249, "display_name": "Zelma"}]},
    })
    frame = transcripts.to_frame(chat)
    assert list(frame["sender_role"]) == ["shopper", "customer", "shopper", "unknown"]
    assert list(frame["sender_name"]) == ["Zelma", "Sierra", "Zelma", transcripts.UNKNOWN_SENDER]
    assert "Unknown sender** (unknown)" in transcripts.to_markdown(frame)
    assert transcripts.to_html(frame).count('class="sc-row sc-shopper"') == 3
    # Bare messages carry no metadata: only the types could tell.
    assert set(transcripts.to_frame(chat.chat_messages)["sender_role"]) == {"unknown"}
