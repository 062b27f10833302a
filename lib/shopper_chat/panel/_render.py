"""Pure HTML for the panel: one bubble, the header, the stylesheet. No widgets, no state.

Every value that came from the server is escaped; only the image URLs the contract accepts
(`IMAGE_URL_PATTERN`) and inline pictures become `src` attributes.
"""

from __future__ import annotations

import html
import re
from datetime import datetime
from importlib import resources

from shopper_chat.contract import IMAGE_URL_PATTERN
from shopper_chat.panel.model import MAX_BODY_CHARS, ChatEntry, PanelStatus

__all__ = ["CSS", "render_counter", "render_empty", "render_entry", "render_header"]


_IMAGE_URL = re.compile(IMAGE_URL_PATTERN)


def _safe_url(url: str) -> str:
    url = (url or "").strip()
    return html.escape(url, quote=True) if _IMAGE_URL.match(url) else ""


_DATA_IMAGE = re.compile(r"^data:image/(png|jpeg|gif|webp|svg\+xml)[;,]", re.IGNORECASE)


def _is_picture_url(url: str) -> bool:
    """The contract's image URLs, and inline pictures (`data:image/...`, which the development
    server may send). A data: picture drawn as a CSS background cannot run script."""
    return bool(_IMAGE_URL.match(url) or _DATA_IMAGE.match(url))


def _css_url(url: str) -> str:
    """`background-image: url("...")` for a style attribute, or "" if not a picture URL."""
    url = (url or "").strip()
    if not _is_picture_url(url):
        return ""
    # Percent-encode what could close the CSS string or the attribute.
    for char, code in (('"', "%22"), ("'", "%27"), ("(", "%28"), (")", "%29"),
                       ("\\", "%5C"), ("<", "%3C"), (">", "%3E"), ("\n", ""), ("\r", ""),
                       (" ", "%20")):
        url = url.replace(char, code)
    return f"background-image: url(&quot;{html.escape(url, quote=True)}&quot;)"


def _time(moment: datetime) -> tuple[str, str]:
    """Short local time for the bubble, full UTC timestamp for its tooltip."""
    return moment.astimezone().strftime("%H:%M"), moment.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def _initials(name: str) -> str:
    parts = [p for p in name.split() if p]
    return html.escape("".join(p[0] for p in parts[:2]).upper() or "?")


def _avatar(name: str, avatar_url: str, css_class: str = "sc-avatar") -> str:
    # The picture is a background over the initials: if it cannot load, the initials show
    # (no broken-image icon, no script).
    style = _css_url(avatar_url)
    pic = f'<i style="{style}"></i>' if style else ""
    return f'<div class="{css_class}" aria-hidden="true"><span>{_initials(name)}</span>{pic}</div>'


_IMAGE_ICON = (
    '<svg width="14" height="14" viewBox="0 0 24 24" fill="none" stroke="currentColor" '
    'stroke-width="2" style="vertical-align: -2px">'
    '<rect x="3" y="3" width="18" height="18" rx="2"/>'
    '<circle cx="8.5" cy="8.5" r="1.5"/><path d="M21 15l-5-5L5 21"/></svg>'
)


def render_entry(entry: ChatEntry, avatar_url: str = "", viewer: str = "customer") -> str:
    """One message: the viewer's own on the right, the other side's on the left with avatar and
    unread marker (the viewer is the customer, or a person playing the shopper)."""
    short, full = _time(entry.created_at)
    body = html.escape(entry.body).replace("\n", "<br>")
    image = ""
    picture = _css_url(entry.image)
    if picture:
        # A thumbnail drawn as a background over a placeholder: an image that cannot load leaves
        # a tidy "image" tile instead of a broken-image icon. http(s) pictures link to the URL.
        inner = (f'<span class="sc-image-label">{_IMAGE_ICON} image</span>'
                 f'<i style="{picture}"></i>')
        url = _safe_url(entry.image)
        image = (
            f'<a class="sc-image" href="{url}" target="_blank" rel="noopener noreferrer" '
            f'title="{url}">{inner}</a>' if url else f'<span class="sc-image">{inner}</span>'
        )
    text = f'<div class="sc-text">{body}</div>' if body else ""
    name = html.escape(entry.sender_name)
    mine = entry.role == viewer
    theirs = not mine and entry.role in ("customer", "shopper")
    unread = theirs and not entry.read
    marker = '<span class="sc-new" title="not marked read yet">new</span>' if unread else ""
    status = ""
    other = "shopper" if viewer == "customer" else "customer"
    if mine:
        if entry.read:
            when = _time(entry.read_at)[0] if entry.read_at else ""
            status = (f'<div class="sc-receipt sc-read" title="read by the {other}">'
                      f'<span class="sc-ticks">✓✓</span> Read {when}</div>')
        else:
            status = ('<div class="sc-receipt" title="delivered, not read yet">'
                      '<span class="sc-ticks">✓</span> Sent</div>')
    elif theirs and entry.read:
        when = _time(entry.read_at)[0] if entry.read_at else ""
        status = f'<div class="sc-receipt">Seen {when}</div>'
    # The viewer's side is on the right (the classes name the sides of the customer's view).
    side = "sc-customer" if mine else "sc-shopper" if theirs else "sc-other"
    avatar = _avatar(entry.sender_name, avatar_url if entry.from_shopper else "") if theirs else ""
    return (
        f'<div class="sc-row {side}{" sc-unread" if unread else ""}" '
        f'data-sc-msg-id="{entry.id}" data-sc-unread="{1 if unread else 0}">'
        f"{avatar}"
        '<div class="sc-col">'
        f'<div class="sc-meta"><span class="sc-name">{name}</span>'
        f'<span class="sc-time" title="{html.escape(full)}">{short}</span>{marker}</div>'
        f'<div class="sc-bubble">{text}{image}</div>'
        f"{status}</div></div>"
    )


_POLL_LABEL = {
    "idle": ("sc-idle", "not started"),
    "live": ("sc-live", "live"),
    "backing_off": ("sc-backoff", "backing off"),
    "stopped": ("sc-stopped", "stopped"),
}


def render_header(status: PanelStatus, viewer: str = "customer") -> str:
    """The other side (the shopper, or for a person playing the shopper, the customer), order,
    workflow state, polling state (and why) and the unread count."""
    not_found = status.stop_reason == "not_found"
    as_shopper = viewer == "shopper"
    name = status.customer_name if as_shopper else status.shopper_name
    fallback = "The customer" if as_shopper else "Your shopper"
    shopper = "Order not found" if not_found else (name or fallback)
    picture = "" if as_shopper else status.shopper_avatar
    avatar = _avatar("?" if not_found else shopper, picture, "sc-avatar sc-avatar-lg")
    role = ("You are the shopper · Customer · " if as_shopper
            else "Your shopper · " if status.shopper_name else "")  # fmt: skip
    state = html.escape(status.workflow_state or "…")
    css, label = _POLL_LABEL[status.poll_state]
    if status.poll_state == "backing_off" and status.retry_in is not None:
        label = f"backing off · {status.retry_in:.0f} s"
    whose = "customer" if as_shopper else "shopper"
    unread = (
        f'<span class="sc-badge sc-unread-badge" title="unread {whose} messages">'
        f"{status.unread_count} unread</span>" if status.unread_count else ""
    )
    detail = ""
    if status.detail and status.poll_state in ("backing_off", "stopped") and not not_found:
        prefix = "Polling stopped: " if status.poll_state == "stopped" else "Poll failed: "
        detail = f'<div class="sc-detail {css}">{html.escape(prefix + status.detail)}</div>'
    return (
        '<div class="sc-header">'
        f"{avatar}"
        '<div class="sc-title">'
        f'<div class="sc-shopper-name">{html.escape(shopper)}</div>'
        f'<div class="sc-sub">{role}Order '
        f'<b>{html.escape(status.order_id)}</b>'
        + ("" if not_found else
           f' · <span class="sc-state" title="order workflow_state">{state}</span>')
        + "</div>"
        "</div>"
        f'<div class="sc-badges">{unread}'
        f'<span class="sc-badge sc-poll {css}" title="polling state"><i></i>{html.escape(label)}'
        "</span></div></div>"
        f"{detail}"
    )


def render_empty(status: PanelStatus) -> str:
    """What the message area shows before the first message (or instead of it)."""
    if status.stop_reason == "not_found":
        return (f'<div class="sc-empty sc-error"><b>Order {html.escape(status.order_id)} was not '
                "found.</b><br>Check the order id, and that the client's user "
                "(<code>client.set_user</code>) is the order's customer.</div>")
    if status.poll_state == "idle":
        return '<div class="sc-empty">Display the panel to start the chat.</div>'
    if not status.chat_open:
        return f'<div class="sc-empty sc-error">{html.escape(status.detail)}</div>'
    return ('<div class="sc-empty">No messages yet. The shopper says hello when shopping starts '
            "(workflow state <i>picking</i>).</div>")


def render_counter(text: str) -> str:
    """The live character counter under the text box."""
    n = len(text.strip())
    if n > MAX_BODY_CHARS:
        return (f'<span class="sc-counter sc-over">{n} / {MAX_BODY_CHARS} · '
                f"{n - MAX_BODY_CHARS} over the limit</span>")
    css = " sc-near" if n > MAX_BODY_CHARS * 0.9 else ""
    return f'<span class="sc-counter{css}">{n} / {MAX_BODY_CHARS}</span>'


def _load_css() -> str:
    css = resources.files("shopper_chat.panel").joinpath("panel.css").read_text(encoding="utf-8")
    return f"<style>\n{css}</style>"


CSS = _load_css()
"""The stylesheet (`panel.css`), as a `<style>` element for an HTML widget."""
