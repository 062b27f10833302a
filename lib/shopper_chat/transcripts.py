"""Transcripts: a conversation as a table, rendered by pure functions, written at the edge.

```python
df = transcripts.to_frame(client.chat.messages(order_id))
html = transcripts.to_html(df)                 # str: chat bubbles, inline images, read ticks
transcripts.write_transcript(df, "out/chat.md")   # the writer is chosen by the suffix
transcripts.write_transcripts(df, "out/")         # transcript.{md,html,csv,json}
```

`to_frame` makes one row per message, oldest first, with the columns of `COLUMNS`: `id,
created_at, sender_role ("customer" | "shopper" | "unknown"), sender_name, body, image, read,
read_at` (times are UTC). `sender_role` follows `sender_type` (`user` is the customer, `driver` the
shopper); where a server leaves the types empty (as the tutorial's example greeting does), the
message's `sender_id` (or `recipient_id`) is compared with the ids of the conversation's
metadata, and a message nothing tells about is "unknown" (`ChatMetadata.sender_role`, the rule
the chat panel follows too). Names come from the conversation's metadata.

The HTML and Markdown transcripts open with a header: the order, the customer and the shopper
(from the conversation, `df.attrs`), and the run, the server and the date when a `TranscriptInfo`
says them. Times are shown to the second, in UTC.

Renderers never trust a message:
- HTML: every text is escaped; only http(s) and `data:image/...` URLs become images, each drawn
  over a tile that stays when the picture cannot load.
- Markdown: HTML is escaped and every character that could start markup (emphasis, code, links,
  tables, headings, lists, quotes) is backslash-escaped or written as an entity; image URLs are
  percent-encoded inside `<...>`. A message is one paragraph of text and cannot leave its quote.
- CSV: a text cell that a spreadsheet would read as a formula (starting with `=`, `+`, `-`, `@`, a
  tab or a carriage return) gets a leading `'`, as OWASP advises; every cell holding a line break
  is quoted. The CSV is for spreadsheets; the JSON is the exact copy.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

from shopper_chat._time import format_time
from shopper_chat.contract import ChatMessage, ChatMetadata, Conversation

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "COLUMNS",
    "TranscriptInfo",
    "UNKNOWN_SENDER",
    "to_csv",
    "to_frame",
    "to_html",
    "to_json",
    "to_markdown",
    "write_transcript",
    "write_transcripts",
]

COLUMNS = ("id", "created_at", "sender_role", "sender_name", "body", "image", "read", "read_at")

UNKNOWN_SENDER = "Unknown sender"
"""The name shown for a message whose sender nothing tells (`sender_role` "unknown")."""


@dataclass(frozen=True)
class TranscriptInfo:
    """What the header of the HTML and Markdown transcripts says beyond the messages.

    Every field may be left empty, and an empty one is not shown. The order, the customer and the
    shopper default to what `to_frame` read from the conversation (`df.attrs`); set them here to
    override (e.g. the order id the run used, which the messages do not carry). `server` is the
    base URL: any user, password, query or fragment in it is dropped, so a credential passed by
    mistake is never written.
    """

    order_id: str = ""
    customer_name: str = ""
    customer_id: str = ""
    shopper_name: str = ""
    shopper_id: str = ""
    run_id: str = ""
    server: str = ""
    date: datetime | None = None


def to_frame(conversation: Conversation | Iterable[ChatMessage]) -> pd.DataFrame:
    """One row per message, in the order given (the API's: oldest first), columns `COLUMNS`.

    Accepts a `Conversation` (names from its metadata) or messages (e.g. `poller.messages`).
    `df.attrs` keeps `customer_name`, `customer_id`, `shopper_name`, `shoppers` (a tuple of
    `(id, display_name)`) and `order_id` (the messages' own, "" when there are none): the
    header of the HTML and Markdown transcripts.
    """
    import pandas as pd

    if isinstance(conversation, Conversation):
        metadata = conversation.metadata
        messages = list(conversation.chat_messages)
        customer_name = conversation.customer_name
        customer = conversation.metadata.customer
        customer_id = str(customer.id) if customer is not None else ""
        profiles = tuple(
            (str(s.id), s.display_name) for s in conversation.metadata.shoppers
        )
        shopper_name = conversation.shopper_name
    else:
        metadata = ChatMetadata()
        messages = list(conversation)
        customer_name, customer_id, profiles, shopper_name = "", "", (), ""
    shoppers = dict(profiles)
    rows = []
    for message in messages:
        role = metadata.sender_role(message)
        if role == "customer":
            name = customer_name or "Customer"
        elif role == "shopper":
            name = shoppers.get(message.sender_id) or shopper_name or "Shopper"
        else:
            name = UNKNOWN_SENDER
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
    frame.attrs["customer_id"] = customer_id
    frame.attrs["shopper_name"] = shopper_name
    frame.attrs["shoppers"] = profiles
    frame.attrs["order_id"] = str(messages[0].order_id) if messages else ""
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
    # To the second: under a frozen clock a whole conversation happens within one minute.
    moment = _time(value)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else ""


def _text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and value != value) else str(value)


# A lone surrogate (JSON's "\ud800" decodes to one) cannot be written as UTF-8.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _writable(text: str) -> str:
    """The page with U+FFFD for each lone surrogate, the character a browser would show."""
    return _SURROGATE.sub("\ufffd", text)


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


# -- the header ----------------------------------------------------------------------------------
def _server(url: str) -> str:
    """The base URL without user, password, query or fragment: where a credential could hide."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:  # an unparsable port or an unbalanced IPv6 bracket: say nothing
        return ""
    if not parts.scheme or not host:
        # Not a URL (e.g. "embedded"): a label, kept unless it looks like it holds a secret.
        return "" if any(c in url for c in "@?#=") else url
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _person(name: str, ident: str) -> str:
    if name and ident:
        return f"{name} ({ident})"
    return name or ident


def _header_rows(df: pd.DataFrame, info: TranscriptInfo | None) -> list[tuple[str, str]]:
    """(label, plain text) for each header line that has something to say."""
    info = info or TranscriptInfo()
    attrs = df.attrs
    customer = _person(info.customer_name or _text(attrs.get("customer_name")),
                       info.customer_id or _text(attrs.get("customer_id")))
    if info.shopper_name or info.shopper_id:
        shopper = _person(info.shopper_name, info.shopper_id)
    else:
        known = attrs.get("shoppers") or ()
        shopper = ", ".join(_person(_text(name), _text(ident)) for ident, name in known)
        shopper = shopper or _text(attrs.get("shopper_name"))
    rows = [
        ("Order", info.order_id or _text(attrs.get("order_id"))),
        ("Customer", customer),
        ("Shopper", shopper),
        ("Run", info.run_id),
        ("Server", _server(info.server)),
        ("Date", _short(info.date)),
    ]
    return [(label, value) for label, value in rows if value]


# -- renderers (pure) --------------------------------------------------------------------------
def to_json(df: pd.DataFrame) -> str:
    """The rows as a JSON array of objects (times ISO 8601 UTC, `Z`): every text exactly."""
    text = json.dumps(_records(df), ensure_ascii=False, indent=2) + "\n"
    # Only a string can hold a lone surrogate: JSON's own escape keeps it exactly and writable.
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


# OWASP "CSV Injection": a spreadsheet evaluates a cell that starts with one of these.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_TEXT_COLUMNS = ("sender_role", "sender_name", "body", "image")


def _inert_cell(text: str) -> str:
    # The leading quote makes Excel, LibreOffice and Sheets read the cell as text.
    return "'" + text if text.startswith(_FORMULA_START) else text


def to_csv(df: pd.DataFrame) -> str:
    """The rows as CSV with a header (times ISO 8601 UTC, `Z`), safe to open in a spreadsheet.

    Text cells that would start a formula get a leading `'`; cells holding a line break (`\\n` or
    a bare `\\r`) are quoted, so every message is one record. Lines end with CRLF (RFC 4180).
    """
    import csv
    import io

    buffer = io.StringIO()
    # With "\r\n" as the terminator, QUOTE_MINIMAL quotes any field holding "\r" or "\n"; with
    # "\n" alone a bare "\r" went unquoted and readers split the message in two.
    writer = csv.DictWriter(
        buffer, fieldnames=list(COLUMNS), lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL
    )
    writer.writeheader()
    for record in _records(df):
        row = {k: ("" if v is None else v) for k, v in record.items()}
        for column in _TEXT_COLUMNS:
            row[column] = _inert_cell(row[column])
        writer.writerow(row)
    return _writable(buffer.getvalue())


def _lines(text: str) -> list[str]:
    # CommonMark ends a line at "\n", "\r\n" and a bare "\r": all three must stay inside the quote.
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


# Backslash-escaped wherever they appear: each can open emphasis, code, a link or image, a table
# cell, strikethrough or a heading. "<", ">" and "&" become entities (no HTML, no autolink, no
# entity of the message's own is decoded).
_MD_ESCAPES = str.maketrans({c: "\\" + c for c in "\\`*_[]|~#"})
_MD_ORDERED = re.compile(r"\A(\d+)([.)])")


def _entities(blanks: str) -> str:
    return "".join(f"&#{ord(c)};" for c in blanks)


def _md_inline(text: str) -> str:
    """Text for the middle of one Markdown line: escaped, line breaks made spaces.

    Blanks at either end become entities: `** Sierra**` would not be bold, and an entity never
    counts as a blank.
    """
    escaped = html.escape(" ".join(_lines(text)), quote=False).translate(_MD_ESCAPES)
    stripped = escaped.lstrip()
    core = stripped.rstrip()
    lead, trail = escaped[: len(escaped) - len(stripped)], stripped[len(core):]
    return _entities(lead) + core + _entities(trail)


def _md_lines(text: str) -> list[str]:
    """Text for a block: one escaped line per line, none of which can start a block of its own."""
    out = []
    for line in _lines(text):
        escaped = html.escape(line, quote=False).translate(_MD_ESCAPES)
        # Leading blanks as entities: four spaces would open a code block, and an entity never
        # counts as indentation.
        stripped = escaped.lstrip()
        lead = _entities(escaped[: len(escaped) - len(stripped)])
        # What opens a list, a setext underline or a thematic break at the start of a line.
        if stripped[:1] in ("-", "+", "="):
            stripped = "\\" + stripped
        stripped = _MD_ORDERED.sub(r"\1\\\2", stripped, count=1)
        out.append(lead + stripped)
    return out


def _md_url(url: str) -> str:
    """A URL for `![...](<...>)`: percent-encoded so it cannot end the destination or the line.

    "&" is backslash-escaped instead, so that the renderer does not decode an entity in it and a
    query keeps its separators.
    """
    safe = "/:?#[]@!$&*+,;=%~-._"
    return quote(url, safe=safe, errors="surrogatepass").replace("&", "\\&")


def to_markdown(
    df: pd.DataFrame, title: str = "Chat transcript", *, info: TranscriptInfo | None = None
) -> str:
    """A readable Markdown transcript: a header (order, customer, shopper, run, server, date),
    then who, when (to the second), read ticks, the text quoted, images linked.

    No message can open HTML or leave its quote (see the module's docstring).
    """
    lines = [f"# {_md_inline(title)}", ""]
    header = _header_rows(df, info)
    if header:
        lines += [f"- {label}: {_md_inline(value)}" for label, value in header]
        lines.append("")
    if df.empty:
        lines += ["_No messages._", ""]
    for record in _records(df):
        when = _short(_time_from_iso(record["created_at"]))
        lines.append(
            f"**{_md_inline(record['sender_name'])}** ({_md_inline(record['sender_role'])}) · "
            f"{when} · {_read_label(record)}"
        )
        if record["body"]:
            # Two trailing spaces: a hard line break, the message's own.
            lines.append("  \n".join(f"> {line}" for line in _md_lines(record["body"])))
        image = _safe_image(record["image"])
        if image and image.startswith("data:"):
            # Kilobytes of base64 would bury the text: say it is there (the HTML shows it).
            lines.append("> _(a picture, embedded in the message: see transcript.html)_")
        elif image:
            lines.append(f"> ![image](<{_md_url(image)}>)")
        lines.append("")
    return _writable("\n".join(lines))


def _time_from_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


_CSS = """
.sc-transcript{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:40rem;
  margin:0 auto;padding:.5rem;display:flex;flex-direction:column;gap:.5rem}
.sc-head{border-bottom:1px solid #dde1e5;padding-bottom:.5rem;margin-bottom:.25rem}
.sc-title{font-size:1.25rem;font-weight:600;margin:0 0 .35rem}
.sc-facts{display:grid;grid-template-columns:max-content 1fr;gap:.1rem .75rem;margin:0;
  font-size:.85rem;color:#3d4750}
.sc-facts dt{color:#5f6b76}
.sc-facts dd{margin:0;overflow-wrap:anywhere}
.sc-row{display:flex;flex-direction:column}
.sc-row.sc-customer{align-items:flex-end}
.sc-row.sc-shopper{align-items:flex-start}
.sc-bubble{max-width:75%;padding:.5rem .75rem;border-radius:1rem;white-space:pre-wrap;
  overflow-wrap:anywhere;line-height:1.35}
.sc-customer .sc-bubble{background:#0a7b3e;color:#fff;border-bottom-right-radius:.25rem}
.sc-shopper .sc-bubble{background:#eef0f2;color:#1b1f23;border-bottom-left-radius:.25rem}
.sc-image{position:relative;width:14rem;max-width:100%;height:10rem;margin:.25rem 0 0;
  border-radius:.5rem;overflow:hidden;background:#d5d9dd;color:#3d4750}
.sc-customer .sc-image{background:#3b9566;color:#fff}
.sc-image-link{position:absolute;inset:0;display:flex;align-items:center;justify-content:center;
  color:inherit;text-decoration:none}
.sc-image-label{font-size:.75rem;padding:0 .5rem;text-align:center;white-space:normal}
.sc-image img{position:absolute;inset:0;width:100%;height:100%;object-fit:cover;display:block}
.sc-image img::after{content:attr(data-label);position:absolute;inset:0;display:flex;
  align-items:center;justify-content:center;font-size:.75rem;background:#d5d9dd;color:#3d4750}
.sc-customer .sc-image img::after{background:#3b9566;color:#fff}
.sc-meta{font-size:.75rem;color:#5f6b76;margin:.15rem .5rem}
.sc-ticks{margin-left:.35rem}
.sc-ticks.sc-read{color:#1a73e8}
.sc-unread{margin-left:.35rem;color:#d9480f;font-weight:600}
.sc-empty{color:#5f6b76;font-style:italic}
"""


def _image_label(url: str) -> str:
    """The tile's words: "image" and the file's name, e.g. "image · green-bananas.jpg"."""
    if url.startswith("data:"):
        return "image (in the message)"
    try:
        name = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    except ValueError:  # e.g. an unbalanced "[" in the host: the URL is still shown as given
        name = ""
    if len(name) > 40:
        name = name[:39] + "…"
    return f"image · {name}" if name else "image"


def _html_image(url: str, sender_name: str) -> str:
    """The picture over a neutral tile that names it, as the panel draws it.

    A picture that loads covers the tile. One that cannot load draws its `::after` (which a
    loaded picture never draws) as the same tile with the same words, hiding the broken-image
    icon; a browser without that shows the tile's own words behind. CSS only, no `onerror`.
    """
    src = html.escape(url, quote=True)
    label = f'<span class="sc-image-label">{html.escape(_image_label(url))}</span>'
    picture = (
        f'<img src="{src}" alt="" loading="lazy" referrerpolicy="no-referrer" '
        f'data-label="{html.escape(_image_label(url), quote=True)}" '
        f'title="image from {html.escape(sender_name, quote=True)}">'
    )
    if url.startswith("data:"):
        # A data: URL cannot be opened from a link in most browsers: no link, the picture only.
        inner = f'<span class="sc-image-link">{label}{picture}</span>'
    else:
        inner = (
            f'<a class="sc-image-link" href="{src}" target="_blank" rel="noopener noreferrer">'
            f"{label}{picture}</a>"
        )
    return f'<figure class="sc-image">{inner}</figure>'


def _html_header(df: pd.DataFrame, title: str, info: TranscriptInfo | None, tag: str) -> str:
    facts = "".join(
        f"<dt>{html.escape(label)}</dt><dd>{html.escape(value)}</dd>"
        for label, value in _header_rows(df, info)
    )
    return (
        f'<header class="sc-head"><{tag} class="sc-title">{html.escape(title)}</{tag}>'
        + (f'<dl class="sc-facts">{facts}</dl>' if facts else "")
        + "</header>"
    )


def to_html(
    df: pd.DataFrame,
    title: str = "Chat transcript",
    *,
    standalone: bool = True,
    info: TranscriptInfo | None = None,
) -> str:
    """A header (order, customer, shopper, run, server, date), then chat bubbles (customer right,
    shopper left), times to the second, images over a tile that stays if they cannot load, read
    ticks on the customer's messages (✓ sent, ✓✓ read by the shopper) and an unread marker on
    the shopper's.

    `standalone=True` gives a whole HTML document; False a `<div>` with its own `<style>`, for a
    notebook output. Every text is escaped: a message cannot inject markup.
    """
    parts = [
        f'<div class="sc-transcript" aria-label="{html.escape(title)}">',
        _html_header(df, title, info, "h1" if standalone else "div"),
    ]
    records = _records(df)
    if not records:
        parts.append('<p class="sc-empty">No messages.</p>')
    for record in records:
        # An unknown sender sits on the shopper's side (not the customer's own), named as such.
        role = "sc-customer" if record["sender_role"] == "customer" else "sc-shopper"
        body = html.escape(record["body"])
        image = _safe_image(record["image"])
        image_html = _html_image(image, record["sender_name"]) if image else ""
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
        return _writable(fragment)
    return _writable(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title></head>\n<body>\n{fragment}\n</body></html>\n"
    )


# -- writers -----------------------------------------------------------------------------------
# Only the pages for people carry the header; the CSV and JSON stay one record per message.
_RENDERERS: Mapping[str, Callable[[pd.DataFrame, TranscriptInfo | None], str]] = {
    ".md": lambda df, info: to_markdown(df, info=info),
    ".markdown": lambda df, info: to_markdown(df, info=info),
    ".html": lambda df, info: to_html(df, info=info),
    ".htm": lambda df, info: to_html(df, info=info),
    ".csv": lambda df, info: to_csv(df),
    ".json": lambda df, info: to_json(df),
}


def write_transcript(
    df: pd.DataFrame, path: str | os.PathLike[str], *, info: TranscriptInfo | None = None
) -> Path:
    """Write the transcript in the format its suffix names (.md, .html, .csv, .json).

    `info` fills the header of the HTML and Markdown transcripts (see `TranscriptInfo`).
    """
    target = Path(path)
    render = _RENDERERS.get(target.suffix.lower())
    if render is None:
        raise ValueError(
            f"unknown transcript format {target.suffix!r}: use one of "
            f"{', '.join(sorted(_RENDERERS))}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    # newline="": the text is written as rendered (the CSV's CRLF stays CRLF on every platform).
    target.write_text(render(df, info), encoding="utf-8", newline="")
    return target


def write_transcripts(
    df: pd.DataFrame,
    folder: str | os.PathLike[str],
    stem: str = "transcript",
    *,
    info: TranscriptInfo | None = None,
) -> dict[str, Path]:
    """Write `<stem>.md`, `.html`, `.csv` and `.json` into `folder`; returns the paths by format.

    `info` fills the header of the HTML and Markdown transcripts (see `TranscriptInfo`).
    """
    base = Path(folder)
    return {
        fmt: write_transcript(df, base / f"{stem}.{fmt}", info=info)
        for fmt in ("md", "html", "csv", "json")
    }
