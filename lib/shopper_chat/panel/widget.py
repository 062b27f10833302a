"""The chat panel widget (ipywidgets 8): renders a `ChatModel` and forwards the user's actions.

The widget holds no conversation state of its own. It subscribes to the model, appends one HTML
widget per new message (so a long conversation never re-renders), rewrites a bubble only when its
read state changes, and re-renders the header on status changes. Polling starts when the panel is
displayed (or when a headless method needs it) and stops when it is closed.

"Seen", for the read rule: a small front-end hook (`_SeenProbe`, an anywidget) watches the shopper
bubbles that are still unread; one that has been at least half inside the viewport for
`seen_after` seconds without a break, while the browser tab is visible, is reported to the model.
The model sends the API's PUT once every unread shopper message has been reported.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import anywidget
import ipywidgets as widgets
import traitlets
from ipywidgets.widgets.widget_string import HTMLStyle

from shopper_chat.client.errors import InvalidRequestError, InvalidTypeError
from shopper_chat.panel._render import (
    CSS,
    render_counter,
    render_empty,
    render_entry,
    render_header,
)
from shopper_chat.panel.model import (
    MAX_BODY_CHARS,
    ChatEntry,
    ChatModel,
    ModelChange,
    describe_error,
)

if TYPE_CHECKING:
    import pandas as pd

    from shopper_chat.client import Client

__all__ = ["ChatPanel"]

_PROBE_ESM = r"""
function render({ model, el }) {
  const dwell = () => model.get("dwell_ms");
  const since = new Map();       // message id -> when it became (and stayed) visible
  const inView = new Set();      // message ids at least half inside the viewport
  const reported = new Set();
  const observed = new WeakSet();
  const io = new IntersectionObserver((entries) => {
    const now = performance.now();
    for (const e of entries) {
      const id = Number(e.target.dataset.scMsgId);
      if (e.isIntersecting && e.intersectionRatio >= 0.5) {
        inView.add(id);
        if (!since.has(id) && document.visibilityState === "visible") since.set(id, now);
      } else {
        inView.delete(id);
        since.delete(id);
      }
    }
  }, { threshold: [0, 0.5, 1] });
  const onVisibility = () => {
    const now = performance.now();
    since.clear();   // a hidden tab breaks the "continuously visible" run
    if (document.visibilityState === "visible") for (const id of inView) since.set(id, now);
  };
  document.addEventListener("visibilitychange", onVisibility);
  const tick = () => {
    const root = el.closest(".sc-panel");
    if (!root) return;
    for (const b of root.querySelectorAll("[data-sc-unread='1']")) {
      if (!observed.has(b)) { observed.add(b); io.observe(b); }
    }
    if (document.visibilityState !== "visible") return;
    const now = performance.now();
    const ids = [];
    for (const [id, t] of since) {
      if (!reported.has(id) && now - t >= dwell()) { reported.add(id); ids.push(id); }
    }
    if (ids.length) model.send({ event: "seen", ids });
  };
  const timer = setInterval(tick, 200);
  return () => {
    clearInterval(timer);
    io.disconnect();
    document.removeEventListener("visibilitychange", onVisibility);
  };
}
export default { render };
"""


class _SeenProbe(anywidget.AnyWidget):
    """Invisible front-end hook: reports shopper messages the user has had on screen."""

    _esm = traitlets.Unicode(_PROBE_ESM).tag(sync=True)
    dwell_ms = traitlets.Int(1000).tag(sync=True)

PAGE_SIZE = 100
"""Bubbles per page of the conversation (one widget box each)."""


class ChatPanel(widgets.VBox):  # type: ignore[misc]
    """A live chat window for one order, in JupyterLab.

    Args:
        client: a `shopper_chat.Client` whose user is the order's customer (`client.set_user`).
        order_id: the retailer's order id.
        stop_states: order workflow states at which polling stops (default: the tutorial's
            `checkout`).
        interval: seconds between polls.
        seen_after: seconds a shopper message must stay on screen to count as seen.
        height: height of the message area (CSS length).
        model: an existing `ChatModel` to show (the other arguments but `seen_after` and `height`
            are then ignored).
        role: `customer` (the order status page's chat) or `shopper`: a person plays the shopper
            through the development server's control plane, on an order whose scripted shopper
            is off (`client.emulator.set_scenario(order_id, "off")`).

    Building the panel makes no request. Display it (`panel` as a cell's last line) to start.
    Headless: `send()`, `wait_for_messages()`, `mark_read()`, `transcript()`.
    """

    def __init__(
        self,
        client: Client | None = None,
        order_id: str | None = None,
        *,
        stop_states: Sequence[str] = ("checkout",),
        interval: float = 1.0,
        seen_after: float = 1.0,
        height: str = "380px",
        model: ChatModel | None = None,
        role: Literal["customer", "shopper"] = "customer",
    ) -> None:
        if model is None:
            if client is None or not order_id:
                raise InvalidTypeError("ChatPanel needs a client and an order_id (or a model)")
            model = ChatModel(client, order_id, stop_states=stop_states, interval=interval,
                              role=role)  # fmt: skip
        self.model = model
        self._view_lock = threading.RLock()
        self._bubbles: dict[int, widgets.HTML] = {}
        # Bubbles live in pages of PAGE_SIZE (ids ascending): ipywidgets syncs a box's children
        # as a whole, so a new message re-sends one page, not the whole conversation.
        self._pages: list[widgets.VBox] = []
        self._page_ids: list[list[int]] = []
        self._page_bubbles: list[list[widgets.HTML]] = []
        self._page_layout = widgets.Layout(width="100%")
        self._busy = False
        # One layout and one style shared by every bubble: a message costs one widget model in
        # the front end, not three.
        self._bubble_layout = widgets.Layout(width="100%")
        self._bubble_style = HTMLStyle()

        full = widgets.Layout(width="100%")
        self._style = widgets.HTML(CSS, layout=widgets.Layout(display="none"))
        self._header = widgets.HTML(render_header(model.status, model.role), layout=full)
        self._empty = widgets.HTML(render_empty(model.status), layout=full)
        self._messages = widgets.VBox(
            [self._empty], layout=widgets.Layout(width="100%", flex="0 0 auto")
        )
        self._messages.add_class("sc-messages")
        # column-reverse keeps the view pinned to the newest message as bubbles are appended.
        self._scroll = widgets.Box(
            [self._messages],
            layout=widgets.Layout(
                height=height, overflow="hidden auto", flex_flow="column-reverse", width="100%"
            ),
        )
        self._scroll.add_class("sc-scroll")
        self._text = widgets.Text(
            placeholder=f"Write a message to your {model._other}…", continuous_update=True,
            layout=widgets.Layout(flex="1 1 auto", width="auto"),
        )
        self._text.add_class("sc-input")
        self._send_button = widgets.Button(
            description="Send", button_style="success", icon="paper-plane",
            tooltip="Send (Enter)", layout=widgets.Layout(width="88px"),
        )
        self._send_button.add_class("sc-send")
        self._image = widgets.Text(
            placeholder="Image URL (optional, https://…)", continuous_update=True,
            layout=widgets.Layout(flex="1 1 auto", width="auto"),
        )
        self._image.add_class("sc-image-url")
        self._feedback = widgets.HTML("", layout=widgets.Layout(flex="1 1 auto", width="auto"))
        self._feedback.add_class("sc-feedback-line")
        self._counter = widgets.HTML(render_counter(""))
        self._probe = _SeenProbe(dwell_ms=int(seen_after * 1000),
                                 layout=widgets.Layout(width="0px", height="0px"))
        footer = widgets.VBox(
            [
                widgets.HBox([self._text, self._send_button], layout=full),
                widgets.HBox([self._image], layout=full),
                widgets.HBox([self._feedback, self._counter, self._probe], layout=full),
            ],
            layout=full,
        )
        footer.add_class("sc-footer")
        super().__init__(
            [self._style, self._header, self._scroll, footer],
            layout=widgets.Layout(width="100%", max_width="560px"),
        )
        self.add_class("sc-panel")

        self._send_button.on_click(lambda _button: self._submit())
        # ipywidgets 8 sends {"event": "submit"} when Enter is pressed in a Text; listening to the
        # message (rather than the deprecated on_submit) keeps continuous_update for the counter.
        self._text.on_msg(self._on_text_message)
        self._text.observe(self._on_text_change, names="value")
        self._probe.on_msg(self._on_probe_message)
        self._unsubscribe = model.subscribe(self._on_model_change)
        # Track front-end views: the first one rendered starts polling even inside a container;
        # when the last one goes (and stays gone), polling stops.
        self._hidden_timer: threading.Timer | None = None
        self._view_count = 0
        self.observe(self._on_views, names="_view_count")
        if model.entries:
            self._add_entries(model.entries)

    # -- display and life cycle ----------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        self.model.start()
        return super()._repr_mimebundle_(**kwargs)

    hidden_grace = 10.0
    """Seconds without any view in a front end before polling stops (reason "hidden"): the cell
    was re-run or its output cleared. A re-render within the grace keeps polling going."""

    def _on_views(self, change: dict[str, Any]) -> None:
        views, before = change.get("new") or 0, change.get("old") or 0
        timer = self._hidden_timer
        if views > 0:
            if timer is not None:
                timer.cancel()
                self._hidden_timer = None
            self.model.start()
        elif before > 0 and timer is None:
            self._hidden_timer = threading.Timer(self.hidden_grace, self._stop_if_hidden)
            self._hidden_timer.daemon = True
            self._hidden_timer.start()

    def _stop_if_hidden(self) -> None:
        self._hidden_timer = None
        if not self._view_count:
            self.model.stop(reason="hidden", join=False)

    def close(self) -> None:
        """Stop polling (reason "closed") and close the widgets."""
        timer = getattr(self, "_hidden_timer", None)
        if timer is not None:
            timer.cancel()
        self.model.close()
        unsubscribe = getattr(self, "_unsubscribe", None)
        if unsubscribe is None:  # __init__ did not finish: nothing else to close
            super().close()
            return
        unsubscribe()
        for child in (self._probe, self._text, self._image, self._send_button, self._counter,
                      self._feedback, self._header, self._empty, self._style,
                      *self._bubbles.values(), *self._pages, self._bubble_layout,
                      self._bubble_style, self._page_layout):
            child.close()
        super().close()

    def stop(self) -> None:
        """Stop polling but keep the conversation on screen (the header says why)."""
        self.model.stop()

    # -- headless use --------------------------------------------------------------------------
    def send(self, text: str, image_url: str | None = None) -> ChatEntry:
        """Send a customer message (what pressing Send does), synchronously."""
        return self.model.send(text, image_url)

    def wait_for_messages(
        self,
        count: int = 1,
        timeout: float = 30.0,
        *,
        sender: Literal["shopper", "customer", "any"] | None = None,
    ) -> list[ChatEntry]:
        """Block until `count` new messages arrive (see `ChatModel.wait_for_messages`; by
        default the other side's)."""
        return self.model.wait_for_messages(count, timeout, sender=sender)

    def mark_read(self) -> int:
        """Mark every unread shopper message read (headless: you have seen them)."""
        return self.model.mark_read()

    def transcript(self) -> pd.DataFrame:
        """The conversation as a DataFrame (`shopper_chat.transcripts.to_frame`)."""
        return self.model.transcript()

    @property
    def entries(self) -> list[ChatEntry]:
        return self.model.entries

    @property
    def status(self) -> Any:
        return self.model.status

    # -- the user's actions --------------------------------------------------------------------
    def _on_text_message(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        if content.get("event") == "submit":
            self._submit()

    def _on_text_change(self, change: dict[str, Any]) -> None:
        text = str(change["new"])
        self._counter.value = render_counter(text)
        with self._view_lock:
            if not self._busy and self.model.status.chat_open:
                # Over the limit, Send is off: the counter says why before anything is sent.
                self._send_button.disabled = len(text.strip()) > MAX_BODY_CHARS

    def _on_probe_message(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        if content.get("event") == "seen":
            self.model.report_seen(int(i) for i in content.get("ids", []))

    def _feedback_text(self, text: str, kind: str = "info") -> None:
        self._feedback.value = f'<span class="sc-feedback sc-{kind}">{_escape(text)}</span>'

    def _submit(self) -> None:
        with self._view_lock:
            if self._busy:
                return  # a send is on its way: a second press must not send it twice
            text, image = self._text.value, self._image.value
            try:
                self.model.validate(text, image)
            except InvalidRequestError as exc:
                self._feedback_text(str(exc), "error")
                return
            self._busy = True
            self._set_inputs(disabled=True)
            self._feedback_text("Sending…")
        # The request runs off the kernel's main thread so the notebook stays responsive.
        threading.Thread(target=self._send_now, args=(text, image), daemon=True).start()

    def _send_now(self, text: str, image: str) -> None:
        try:
            self.model.send(text, image or None)
        except Exception as exc:  # noqa: BLE001 - every failure is shown, the text stays
            self._feedback_text(f"Not sent: {describe_error(exc)}. Your message is still in the "
                                "box.", "error")
        else:
            self._text.value = ""
            self._image.value = ""
            self._feedback_text("")
        finally:
            with self._view_lock:
                self._busy = False
                self._set_inputs(disabled=not self.model.status.chat_open)
            if self.model.status.chat_open:
                self._text.focus()

    def _set_inputs(self, *, disabled: bool) -> None:
        self._text.disabled = disabled
        self._image.disabled = disabled
        self._send_button.disabled = disabled

    # -- rendering the model -------------------------------------------------------------------
    def _on_model_change(self, change: ModelChange) -> None:
        with self._view_lock:
            if change.kind == "added":
                self._add_entries(change.entries)
            elif change.kind == "updated":
                avatar = self.model.status.shopper_avatar
                for entry in change.entries:
                    bubble = self._bubbles.get(entry.id)
                    if bubble is not None:
                        bubble.value = render_entry(entry, avatar, self.model.role)
            else:
                self._render_status()

    def _render_status(self) -> None:
        status = self.model.status
        self._header.value = render_header(status, self.model.role)
        if not self._bubbles:
            self._empty.value = render_empty(status)
        other = status.customer_name if self.model.role == "shopper" else status.shopper_name
        if other:
            self._text.placeholder = f"Message {other}…"
        if not status.chat_open:
            self._set_inputs(disabled=True)
            self._feedback_text("Sending is closed for this order.", "error")

    def _add_entries(self, entries: Sequence[ChatEntry]) -> None:
        """Add a bubble per new entry: one `children` assignment per page that changed.

        The model sends a poll's new messages (or a whole first load) as one change. A new
        message goes on the last page (a new page every PAGE_SIZE messages), so its cost does
        not grow with the conversation; a late one with a smaller id joins the page it sorts into.
        """
        avatar = self.model.status.shopper_avatar
        changed: set[int] = set()
        new_pages = False
        for entry in entries:
            if entry.id in self._bubbles:
                self._bubbles[entry.id].value = render_entry(entry, avatar, self.model.role)
                continue
            bubble = widgets.HTML(render_entry(entry, avatar, self.model.role),
                                  layout=self._bubble_layout,
                                  style=self._bubble_style)
            self._bubbles[entry.id] = bubble
            if not self._pages or entry.id > self._page_ids[-1][-1]:
                # Ids grow with time: a new message almost always goes last.
                if not self._pages or len(self._page_ids[-1]) >= PAGE_SIZE:
                    self._pages.append(widgets.VBox(layout=self._page_layout))
                    self._pages[-1].add_class("sc-page")
                    self._page_ids.append([])
                    self._page_bubbles.append([])
                    new_pages = True
                page = len(self._pages) - 1
                self._page_ids[page].append(entry.id)
                self._page_bubbles[page].append(bubble)
            else:
                firsts = [ids[0] for ids in self._page_ids]
                page = max(0, bisect.bisect_right(firsts, entry.id) - 1)
                at = bisect.bisect(self._page_ids[page], entry.id)
                self._page_ids[page].insert(at, entry.id)
                self._page_bubbles[page].insert(at, bubble)
            changed.add(page)
        for page in sorted(changed):
            # Only the new HTML widgets get views in the front end; the others are reused.
            self._pages[page].children = tuple(self._page_bubbles[page])
        if new_pages:
            self._messages.children = tuple(self._pages)


def _escape(text: str) -> str:
    import html

    return html.escape(text)


