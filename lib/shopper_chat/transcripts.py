"""Transcripts: a conversation as a table, rendered by pure functions, written at the edge.

```python
df = transcripts.to_frame(client.chat.messages(order_id))
html = transcripts.to_html(df)                 # str: chat bubbles, inline images, read ticks
transcripts.write_transcript(df, "out/chat.md")   # the writer is chosen by the suffix
transcripts.write_transcripts(df, "out/")         # transcript.{md,html,csv,json}
```

`to_frame` makes one row per message, oldest first, with the columns of `COLUMNS`:
`id, created_at, sender_role ("customer" | "shopper"), sender_name, body, image, read, read_at`
(times are UTC). `sender_role` follows `sender_type` (`user` is the customer, `driver` the
shopper); a message whose types are empty (as in the tutorial's example greeting) is the
shopper's unless its recipient is the shopper. Names come from the conversation's metadata.

Renderers never trust a message: text is escaped in HTML and Markdown, and only http(s) image URLs
become images.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shopper_chat._time import format_time
from shopper_chat.contract import ChatMessage, Conversation

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "COLUMNS",
    "to_csv",
    "to_frame",
    "to_html",
    "to_json",
    "to_markdown",
    "write_transcript",
    "write_transcripts",
]

COLUMNS = ("id", "created_at", "sender_role", "sender_name", "body", "image", "read", "read_at")


def _role(message: ChatMessage) -> str:
    if message.sender_type == "user":
        return "customer"
    if message.sender_type == "driver":
        return "shopper"
    return "customer" if message.recipient_type == "driver" else "shopper"


def to_frame(conversation: Conversation | Iterable[ChatMessage]) -> pd.DataFrame:
    """One row per message, in the order given (the API's: oldest first), columns `COLUMNS`.

    Accepts a `Conversation` (names from its metadata) or messages (e.g. `poller.messages`).
    `df.attrs` keeps `customer_name` and `shopper_name`.
    """
    import pandas as pd

    if isinstance(conversation, Conversation):
        messages = list(conversation.chat_messages)
        customer_name = conversation.customer_name
        shoppers = {s.id: s.display_name for s in conversation.metadata.shoppers}
        shopper_name = conversation.shopper_name
    else:
        messages = list(conversation)
        customer_name, shoppers, shopper_name = "", {}, ""
    rows = []
    for message in messages:
        role = _role(message)
        if role == "customer":
            name = customer_name or "Customer"
        else:
            name = shoppers.get(message.sender_id) or shopper_name or "Shopper"
        rows.append({
            "id": message.id,
            "created_at": message.created_at,
            "sender_role": role,
            "sender_name": name,
            "body": message.body,
            "image": message.image,
            "read": message.read,
            "read_at": message.read_at,
        })
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["id"] = frame["id"].astype("int64")
    frame["read"] = frame["read"].astype("bool")
    for column in ("created_at", "read_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    for column in ("sender_role", "sender_name", "body", "image"):
        frame[column] = frame[column].astype("object")
    frame.attrs["customer_name"] = customer_name
    frame.attrs["shopper_name"] = shopper_name
    return frame


# -- values out of a row -----------------------------------------------------------------------
def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return None


def _iso(value: Any) -> str | None:
    moment = _time(value)
    return format_time(moment) if moment is not None else None


def _short(value: Any) -> str:
    moment = _time(value)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if moment else ""


def _text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and value != value) else str(value)


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for row in df.to_dict(orient="records"):
        out.append({
            "id": int(row["id"]),
            "created_at": _iso(row["created_at"]),
            "sender_role": _text(row["sender_role"]),
            "sender_name": _text(row["sender_name"]),
            "body": _text(row["body"]),
            "image": _text(row["image"]),
            "read": bool(row["read"]),
            "read_at": _iso(row["read_at"]),
        })
    return out


_PICTURE_DATA = re.compile(
    r"data:image/(png|jpeg|gif|webp|svg\+xml)(;base64)?,[A-Za-z0-9+/=%._~-]*\Z"
)


def _safe_image(url: str) -> str | None:
    """An image URL a page may show: http(s), or a picture carried in a `data:image/...` URL."""
    url = url.strip()
    if url.lower().startswith(("http://", "https://")) or _PICTURE_DATA.match(url):
        return url
    return None


def _read_label(record: Mapping[str, Any]) -> str:
    # A customer's message is read by the shopper; a shopper's by the customer (the PUT).
    if record["sender_role"] == "customer":
        return "✓✓ read" if record["read"] else "✓ sent"
    return "read" if record["read"] else "unread"


# -- renderers (pure) --------------------------------------------------------------------------
def to_json(df: pd.DataFrame) -> str:
    """The rows as a JSON array of objects (times ISO 8601 UTC, `Z`)."""
    return json.dumps(_records(df), ensure_ascii=False, indent=2) + "\n"


def to_csv(df: pd.DataFrame) -> str:
    """The rows as CSV with a header (times ISO 8601 UTC, `Z`)."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    for record in _records(df):
        writer.writerow({k: ("" if v is None else v) for k, v in record.items()})
    return buffer.getvalue()


def _md_escape(text: str) -> str:
    # Raw HTML in Markdown would render: escape it; keep line breaks inside the quote.
    escaped = html.escape(text, quote=False)
    for char in ("\\", "`", "*", "_", "[", "]", "|"):
        escaped = escaped.replace(char, "\\" + char)
    return escaped.replace("\n", "  \n> ")


def to_markdown(df: pd.DataFrame, title: str = "Chat transcript") -> str:
    """A readable Markdown transcript: who, when, read ticks, the text quoted, images linked."""
    lines = [f"# {_md_escape(title)}", ""]
    if df.empty:
        lines += ["_No messages._", ""]
    for record in _records(df):
        when = _short(_time_from_iso(record["created_at"]))
        lines.append(
            f"**{_md_escape(record['sender_name'])}** ({record['sender_role']}) · {when} · "
            f"{_read_label(record)}"
        )
        if record["body"]:
            lines.append(f"> {_md_escape(record['body'])}")
        image = _safe_image(record["image"])
        if image and image.startswith("data:"):
            # Kilobytes of base64 would bury the text: say it is there (the HTML shows it).
            lines.append("> _(a picture, embedded in the message: see transcript.html)_")
        elif image:
            lines.append(f"> ![image]({image.replace(')', '%29').replace(' ', '%20')})")
        lines.append("")
    return "\n".join(lines)


def _time_from_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


_CSS = """
.sc-transcript{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:40rem;
  margin:0 auto;padding:.5rem;display:flex;flex-direction:column;gap:.5rem}
.sc-row{display:flex;flex-direction:column}
.sc-row.sc-customer{align-items:flex-end}
.sc-row.sc-shopper{align-items:flex-start}
.sc-bubble{max-width:75%;padding:.5rem .75rem;border-radius:1rem;white-space:pre-wrap;
  overflow-wrap:anywhere;line-height:1.35}
.sc-customer .sc-bubble{background:#0a7b3e;color:#fff;border-bottom-right-radius:.25rem}
.sc-shopper .sc-bubble{background:#eef0f2;color:#1b1f23;border-bottom-left-radius:.25rem}
.sc-bubble img{display:block;max-width:100%;max-height:16rem;border-radius:.5rem;margin-top:.25rem}
.sc-meta{font-size:.75rem;color:#5f6b76;margin:.15rem .5rem}
.sc-ticks{margin-left:.35rem}
.sc-ticks.sc-read{color:#1a73e8}
.sc-unread{margin-left:.35rem;color:#d9480f;font-weight:600}
.sc-empty{color:#5f6b76;font-style:italic}
"""


def to_html(df: pd.DataFrame, title: str = "Chat transcript", *, standalone: bool = True) -> str:
    """Chat bubbles (customer right, shopper left), inline images, read ticks on the customer's
    messages (✓ sent, ✓✓ read by the shopper) and an unread marker on the shopper's.

    `standalone=True` gives a whole HTML document; False a `<div>` with its own `<style>`, for a
    notebook output. Every text is escaped: a message cannot inject markup.
    """
    parts = [f'<div class="sc-transcript" aria-label="{html.escape(title)}">']
    records = _records(df)
    if not records:
        parts.append('<p class="sc-empty">No messages.</p>')
    for record in records:
        role = "sc-customer" if record["sender_role"] == "customer" else "sc-shopper"
        body = html.escape(record["body"])
        image = _safe_image(record["image"])
        image_html = (
            f'<img src="{html.escape(image, quote=True)}" alt="image from '
            f'{html.escape(record["sender_name"], quote=True)}" loading="lazy">'
            if image else ""
        )
        read_at = html.escape(record["read_at"] or "")
        if role == "sc-shopper":
            ticks = ("" if record["read"] else
                     '<span class="sc-unread" title="not read by the customer yet">unread</span>')
        elif record["read"]:
            ticks = f'<span class="sc-ticks sc-read" title="read {read_at}">✓✓</span>'
        else:
            ticks = '<span class="sc-ticks" title="not read by the shopper yet">✓</span>'
        when = _short(_time_from_iso(record["created_at"]))
        parts.append(
            f'<div class="sc-row {role}" data-message-id="{record["id"]}">'
            f'<div class="sc-bubble">{body}{image_html}</div>'
            f'<div class="sc-meta">{html.escape(record["sender_name"])} · '
            f'<time datetime="{html.escape(record["created_at"] or "")}">{html.escape(when)}'
            f"</time>{ticks}</div></div>"
        )
    parts.append("</div>")
    fragment = f"<style>{_CSS}</style>\n" + "\n".join(parts)
    if not standalone:
        return fragment
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title></head>\n<body>\n{fragment}\n</body></html>\n"
    )


# -- writers -----------------------------------------------------------------------------------
_RENDERERS: Mapping[str, Any] = {
    ".md": to_markdown,
    ".markdown": to_markdown,
    ".html": to_html,
    ".htm": to_html,
    ".csv": to_csv,
    ".json": to_json,
}


def write_transcript(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write the transcript in the format its suffix names (.md, .html, .csv, .json)."""
    target = Path(path)
    render = _RENDERERS.get(target.suffix.lower())
    if render is None:
        raise ValueError(
            f"unknown transcript format {target.suffix!r}: use one of "
            f"{', '.join(sorted(_RENDERERS))}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(df), encoding="utf-8")
    return target


def write_transcripts(
    df: pd.DataFrame, folder: str | os.PathLike[str], stem: str = "transcript"
) -> dict[str, Path]:
    """Write `<stem>.md`, `.html`, `.csv` and `.json` into `folder`; returns the paths by format."""
    base = Path(folder)
    return {
        fmt: write_transcript(df, base / f"{stem}.{fmt}") for fmt in ("md", "html", "csv", "json")
    }
