"""The panel's widget without a browser: what it renders and what the user's actions do.

Front-end messages are delivered the way ipywidgets delivers them (`_handle_custom_msg`), so
Enter, the visibility hook and the Send button are exercised without JupyterLab.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone

import httpx
import pytest
from shopper_chat.panel import ChatEntry, ChatPanel
from shopper_chat.panel._render import render_counter, render_entry
from shopper_chat.panel.widget import PAGE_SIZE

CHAT_PATH = "/v2/post_checkout/chat/*"


@pytest.fixture()
def panel(devserver: str) -> Iterator[ChatPanel]:
    from shopper_chat import Client, tutorial
    from shopper_chat.devserver import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

    with Client(devserver, client_id=DEFAULT_CLIENT_ID, client_secret=DEFAULT_CLIENT_SECRET,
                max_retries=0) as client:
        setup = tutorial.create_order(client)
        tutorial.start_shopping(client, setup.order_id, setup.user_id)
        client.set_user(setup.user_id)
        chat = ChatPanel(client, setup.order_id, interval=0.05)
        try:
            yield chat
        finally:
            chat.close()


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the panel did not update in time"
        time.sleep(0.02)


def bubbles(panel: ChatPanel) -> list[object]:
    return [w for page in panel._messages.children if page is not panel._empty
            for w in page.children]


def press_enter(panel: ChatPanel, text: str) -> None:
    panel._text.value = text
    panel._text._handle_custom_msg({"event": "submit"}, [])


def test_building_the_panel_makes_no_request() -> None:
    from shopper_chat import Client

    unreachable = Client("http://127.0.0.1:9", client_id="x", client_secret="y", max_retries=0)
    try:
        chat = ChatPanel(unreachable, "order-1")
        assert chat.model.status.poll_state == "idle"
        assert "Display the panel" in chat._empty.value
        chat.close()
    finally:
        unreachable.close()


def test_displaying_starts_polling_and_renders_the_greeting(panel: ChatPanel) -> None:
    assert panel.model.status.poll_state == "idle"
    panel._repr_mimebundle_()  # what IPython's display() calls
    panel.wait_for_messages(count=1, timeout=10)
    panel.model.wait_for_polls(1, timeout=10)
    eventually(lambda: len(bubbles(panel)) == len(panel.entries))
    html = bubbles(panel)[0].value  # type: ignore[attr-defined]
    assert "sc-shopper" in html and 'data-sc-unread="1"' in html and "Zelma" in html
    unread = panel.model.unread_count
    assert f"{unread} unread" in panel._header.value and "picking" in panel._header.value


def test_enter_sends_and_only_new_bubbles_are_added(panel: ChatPanel) -> None:
    panel.wait_for_messages(count=1, timeout=10)
    panel.model.wait_for_polls(1, timeout=10)
    before = list(bubbles(panel))
    assert len(before) == len(panel.entries)
    press_enter(panel, "Ripe bananas, please")
    eventually(lambda: panel._text.value == "" and not panel._busy)
    answer = panel.wait_for_messages(count=1, timeout=10)
    panel.model.wait_for_polls(2, timeout=10)
    eventually(lambda: len(bubbles(panel)) == len(before) + 1 + len(answer))
    after = bubbles(panel)
    assert after[: len(before)] == before, "an existing bubble was rebuilt"
    mine = after[len(before)].value  # type: ignore[attr-defined]
    assert "Ripe bananas, please" in mine and "sc-customer" in mine
    assert len(after) == len(panel.entries)


def test_empty_text_is_not_sent_and_says_why(panel: ChatPanel) -> None:
    panel.wait_for_messages(count=1, timeout=10)
    press_enter(panel, "   ")
    assert "nothing was sent" in panel._feedback.value
    assert [e for e in panel.entries if e.from_customer] == []


def test_a_failed_send_keeps_the_text_and_the_reason(panel: ChatPanel, devserver: str) -> None:
    panel.wait_for_messages(count=1, timeout=10)
    httpx.post(f"{devserver}/_emulator/faults",
               json={"method": "POST", "path": CHAT_PATH, "status": 500, "times": 1},
               timeout=10).raise_for_status()
    press_enter(panel, "Is the store busy?")
    eventually(lambda: not panel._busy)
    assert panel._text.value == "Is the store busy?"
    assert "Not sent" in panel._feedback.value and "500" in panel._feedback.value
    assert not panel._text.disabled
    assert [e for e in panel.entries if e.from_customer] == []


def test_the_visibility_hook_marks_read(panel: ChatPanel) -> None:
    panel.wait_for_messages(count=1, timeout=10)
    panel.model.wait_for_polls(2, timeout=10)
    assert panel.model.mark_read_calls == 0
    shown = [e.id for e in panel.entries if e.from_shopper]
    panel._probe._handle_custom_msg({"event": "seen", "ids": shown}, [])
    eventually(lambda: panel.model.unread_count == 0)
    eventually(lambda: all('data-sc-unread="1"' not in b.value  # type: ignore[attr-defined]
                           for b in bubbles(panel)))
    assert "unread" not in panel._header.value


def test_the_counter_shows_the_limit_before_sending() -> None:
    assert "0 / 1000" in render_counter("")
    assert "sc-near" in render_counter("a" * 950)
    over = render_counter("a" * 1003)
    assert "sc-over" in over and "3 over the limit" in over


def test_message_text_and_urls_are_escaped() -> None:
    entry = ChatEntry(
        id=1, role="shopper", sender_name="<b>Zelma</b>", body="<script>alert(1)</script>",
        image='javascript:alert(1)', created_at=datetime(2026, 1, 15, 17, tzinfo=timezone.utc),
        read=False, read_at=None,
    )
    html = render_entry(entry, avatar_url='https://example.com/a.png") onerror=("x')
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<b>Zelma</b>" not in html
    assert "javascript:" not in html
    assert 'onerror=("x' not in html


@pytest.mark.parametrize(
    ("image", "shown"),
    [
        ("https://example.com/bananas.png", True),
        ("data:image/svg+xml;base64,PHN2Zy8+", True),  # an inline picture from the server
        ("data:text/html;base64,PHNjcmlwdD4=", False),
        ("javascript:alert(1)", False),
    ],
)
def test_only_pictures_become_images(image: str, shown: bool) -> None:
    entry = ChatEntry(
        id=2, role="shopper", sender_name="Zelma", body="Would these work?", image=image,
        created_at=datetime(2026, 1, 15, 17, tzinfo=timezone.utc), read=False, read_at=None,
    )
    html = render_entry(entry)
    assert ('class="sc-image"' in html) is shown
    assert ("background-image" in html) is shown


def test_a_view_in_a_front_end_starts_polling(panel: ChatPanel) -> None:
    # Inside a container, display() is never called on the panel itself: the first view
    # the front end reports (`_view_count`) starts polling.
    panel._view_count = 1
    panel.wait_for_messages(count=1, timeout=10)
    assert panel.model.running


def test_server_errors_show_in_the_header_and_clear(panel: ChatPanel, devserver: str) -> None:
    panel.wait_for_messages(count=1, timeout=10)
    httpx.post(f"{devserver}/_emulator/faults",
               json={"method": "GET", "path": CHAT_PATH, "status": 503, "times": 2},
               timeout=10).raise_for_status()
    eventually(lambda: "backing off" in panel._header.value and "503" in panel._header.value)
    eventually(lambda: "sc-live" in panel._header.value and "503" not in panel._header.value)


def test_an_image_url_is_sent_with_the_text(panel: ChatPanel) -> None:
    panel.wait_for_messages(count=1, timeout=10)
    panel._image.value = "https://example.com/my-bananas.png"
    press_enter(panel, "Like these")
    eventually(lambda: not panel._busy and panel._image.value == "")
    mine = [e for e in panel.entries if e.from_customer]
    assert [(e.body, e.image) for e in mine] == [("Like these", "https://example.com/my-bananas.png")]
    eventually(lambda: any("my-bananas.png" in b.value for b in bubbles(panel)))  # type: ignore[attr-defined]


def test_polling_stops_when_the_last_view_is_gone_for_good(panel: ChatPanel) -> None:
    panel.hidden_grace = 0.2
    panel._view_count = 1
    panel.wait_for_messages(count=1, timeout=10)
    panel._view_count = 0  # e.g. JupyterLab re-rendering the output...
    panel._view_count = 1  # ...and showing it again within the grace: still live
    time.sleep(0.4)
    assert panel.model.status.poll_state == "live"
    panel._view_count = 0  # the cell was re-run: its old panel goes quiet
    status = panel.model.wait_for_status(lambda s: s.poll_state == "stopped", timeout=10)
    assert status.stop_reason == "hidden" and "no longer displayed" in status.detail


def test_send_is_off_over_the_limit(panel: ChatPanel) -> None:
    panel._text.value = "x" * 1001
    assert panel._send_button.disabled and "1 over the limit" in panel._counter.value
    panel._text.value = "x" * 1000
    assert not panel._send_button.disabled


def test_a_poll_of_many_messages_is_one_children_update_in_order() -> None:
    from shopper_chat import Client
    from shopper_chat.client import ChatMessage, NewMessage

    def message(i: int) -> ChatMessage:
        return ChatMessage(
            id=i, order_id=1, created_at=datetime(2026, 1, 15, 17, tzinfo=timezone.utc),
            recipient_id="", recipient_type="", sender_id="",
            sender_type="driver" if i % 2 else "user", read=False, read_at=None,
            body=f"message {i}", image="",
        )

    unreachable = Client("http://127.0.0.1:9", client_id="x", client_secret="y", max_retries=0)
    chat = ChatPanel(unreachable, "order-1")
    try:
        chat.model._set_status(shopper_name="Zelma")  # what the first GET would have set
        updates: list[object] = []
        chat._messages.observe(updates.append, names="children")
        # One poll of 120 messages (not in id order): one update of the conversation's pages.
        chat.model._apply_message_events([NewMessage(message(i)) for i in range(119, 0, -2)]
                                         + [NewMessage(message(i)) for i in range(2, 121, 2)
                                            if i != 60])
        assert len(updates) == 1
        pages = list(chat._messages.children)
        assert [len(p.children) for p in pages] == [PAGE_SIZE, 119 - PAGE_SIZE]
        # Then one poll that fills a gap (on the first page) and appends (on the last): only
        # those two pages are sent again, the list of pages is not.
        page_updates: list[object] = []
        for page in pages:
            page.observe(page_updates.append, names="children")
        chat.model._apply_message_events([NewMessage(message(121)), NewMessage(message(60))])
        assert len(updates) == 1
        assert sorted(pages.index(u["owner"]) for u in page_updates) == [0, 1]  # type: ignore[index]
        shown = [b.value for b in bubbles(chat)]  # type: ignore[attr-defined]
        assert len(shown) == 121 == len(chat.entries)
        assert all(f"message {i}<" in html for i, html in enumerate(shown, start=1))
        assert f"{chat.model.unread_count} unread" in chat._header.value
    finally:
        chat.close()
        unreachable.close()
