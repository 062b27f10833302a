"""The scripted shopper: its script (data a user can change), and `ScriptedShopper`, which keeps
the schedule of what it says when and says it.

A script is a mapping (YAML or JSON file, or a dict) with these keys, all optional:

| key | type | default |
|---|---|---|
| `enabled` | bool | true |
| `display_name` | str | "Zelma" |
| `avatar_url` | str | "http://example.com" |
| `greeting` | str or null | the tutorial's greeting; null: no greeting |
| `greeting_delay` | seconds | 0 |
| `reply_delay` | seconds | 2 |
| `replies` | list of `{keywords: [str], reply: str}` | [] |
| `default_reply` | str or null | null: no answer when no rule matches |
| `replacement` | mapping (below) or null | null |

`replacement`: `{trigger: greeting | keyword, keywords: [str], delay: seconds, body: str,
image_url: str}`.

Texts may use the placeholders `{customer_name}`, `{shopper_name}`, `{message}`, `{base_url}`.
"""

from __future__ import annotations

import json
import re
import string
import threading
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import yaml

from .clock import Clock
from .records import ActionRecord, OrderRecord
from .store import Store

__all__ = [
    "DEFAULT_GREETING",
    "MAX_DELAY",
    "PICTURES",
    "Replacement",
    "ReplyRule",
    "ChatRoom",
    "ScriptError",
    "ScriptedShopper",
    "ShopperScript",
    "default_script",
    "load_script",
    "render",
]

DEFAULT_GREETING = (
    "Hi, this is Zelma, your shopper. I'm just getting started on your shopping list."
)
PLACEHOLDERS = frozenset({"customer_name", "shopper_name", "message", "base_url"})
MAX_DELAY = 86400
"""The longest delay (seconds) of any shopper action: the script's delays and `reply_delay`."""

_REPLACEMENT_SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="240" height="160" \
viewBox="0 0 240 160"><rect width="240" height="160" rx="12" fill="#fff8dc"/>\
<path d="M50 110 C90 150 170 140 195 70 C200 60 190 55 185 65 C160 120 100 125 60 95 Z" \
fill="#f5d43b" stroke="#8a6d00" stroke-width="3"/><text x="120" y="30" font-family="sans-serif" \
font-size="16" text-anchor="middle" fill="#333">Suggested replacement</text></svg>"""
"""The picture at `{base_url}/_emulator/images/replacement.svg`."""
PICTURES = {"replacement.svg": _REPLACEMENT_SVG}
"""The pictures the server serves for scripts (by file name)."""


class ScriptError(ValueError):
    """A shopper script that cannot be used; the message names the bad key."""


@dataclass(frozen=True)
class ReplyRule:
    """Answer `reply` when one of `keywords` is in the customer's message."""

    keywords: tuple[str, ...]
    reply: str

    def matches(self, text: str) -> bool:
        """True when a keyword occurs in `text` as whole words, ignoring case."""
        lowered = text.lower()
        return any(
            re.search(rf"(?<!\w){re.escape(k.lower())}(?!\w)", lowered) is not None
            for k in self.keywords
        )


@dataclass(frozen=True)
class Replacement:
    """A replacement suggestion with a picture, sent once per order."""

    trigger: str
    keywords: tuple[str, ...]
    delay: float
    body: str
    image_url: str


@dataclass(frozen=True)
class ShopperScript:
    """What the scripted shopper says and when."""

    enabled: bool = True
    display_name: str = "Zelma"
    avatar_url: str = "http://example.com"
    greeting: str | None = DEFAULT_GREETING
    greeting_delay: float = 0.0
    reply_delay: float = 2.0
    replies: tuple[ReplyRule, ...] = field(default_factory=tuple)
    default_reply: str | None = None
    replacement: Replacement | None = None

    def reply_for(self, text: str) -> str | None:
        """The reply to a customer message, or None."""
        for rule in self.replies:
            if rule.matches(text):
                return rule.reply
        return self.default_reply

    def replacement_asked(self, text: str) -> bool:
        """True when a customer message names a keyword of a keyword-triggered replacement."""
        rep = self.replacement
        return (rep is not None and rep.trigger == "keyword"
                and ReplyRule(rep.keywords, "").matches(text))  # fmt: skip


def render(template: str, **values: str) -> str:
    """Fill a script text's placeholders."""
    return template.format_map({k: values.get(k, "") for k in PLACEHOLDERS})


_TOP_KEYS = frozenset(
    {"enabled", "display_name", "avatar_url", "greeting", "greeting_delay", "reply_delay",
     "replies", "default_reply", "replacement"}
)  # fmt: skip
_REPLACEMENT_KEYS = frozenset({"trigger", "keywords", "delay", "body", "image_url"})


def _text(value: Any, key: str, *, nullable: bool = False, empty: bool = False) -> str | None:
    if value is None and nullable:
        return None
    if not isinstance(value, str) or (not empty and not value.strip()):
        kind = "a text or null" if nullable else "a non-empty text"
        raise ScriptError(f"shopper script: `{key}` must be {kind}")
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
    except ValueError as exc:
        raise ScriptError(f"shopper script: `{key}` has a broken placeholder ({exc})") from None
    unknown = sorted(n for n in names if n not in PLACEHOLDERS)
    if unknown:
        raise ScriptError(
            f"shopper script: `{key}` uses an unknown placeholder {{{unknown[0]}}} "
            f"(known: {', '.join('{' + p + '}' for p in sorted(PLACEHOLDERS))})"
        )
    return value


def _seconds(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            0 <= value <= MAX_DELAY):  # fmt: skip
        raise ScriptError(
            f"shopper script: `{key}` must be a number of seconds from 0 to {MAX_DELAY}")
    return float(value)


def _keywords(value: Any, key: str, *, allow_empty: bool) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(k, str) and k.strip() for k in value):
        raise ScriptError(f"shopper script: `{key}` must be a list of non-empty texts")
    if not value and not allow_empty:
        raise ScriptError(f"shopper script: `{key}` must name at least one keyword")
    return tuple(value)


def _unknown(data: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    for key in data:
        if key not in allowed:
            raise ScriptError(
                f"shopper script: unknown key `{where}{key}` (known: {', '.join(sorted(allowed))})"
            )


def parse_script(data: Any, base: ShopperScript | None = None) -> ShopperScript:
    """Validate a script mapping; keys it leaves out keep `base`'s values (default: built-in)."""
    if not isinstance(data, Mapping):
        raise ScriptError("shopper script: the script must be a mapping of keys to values")
    _unknown(data, _TOP_KEYS, "")
    script = base or ShopperScript()
    values: dict[str, Any] = {}
    if "enabled" in data:
        if not isinstance(data["enabled"], bool):
            raise ScriptError("shopper script: `enabled` must be true or false")
        values["enabled"] = data["enabled"]
    if "display_name" in data:
        values["display_name"] = _text(data["display_name"], "display_name")
    if "avatar_url" in data:
        values["avatar_url"] = _text(data["avatar_url"], "avatar_url", empty=True)
    if "greeting" in data:
        values["greeting"] = _text(data["greeting"], "greeting", nullable=True)
    for key in ("greeting_delay", "reply_delay"):
        if key in data:
            values[key] = _seconds(data[key], key)
    if "default_reply" in data:
        values["default_reply"] = _text(data["default_reply"], "default_reply", nullable=True)
    if "replies" in data:
        rules = data["replies"]
        if not isinstance(rules, list):
            raise ScriptError("shopper script: `replies` must be a list of {keywords, reply}")
        parsed = []
        for i, rule in enumerate(rules):
            where = f"replies[{i}]"
            if not isinstance(rule, Mapping):
                raise ScriptError(f"shopper script: `{where}` must be a mapping (keywords, reply)")
            _unknown(rule, frozenset({"keywords", "reply"}), f"{where}.")
            for key in ("keywords", "reply"):
                if key not in rule:
                    raise ScriptError(f"shopper script: `{where}.{key}` is missing")
            parsed.append(
                ReplyRule(
                    keywords=_keywords(rule["keywords"], f"{where}.keywords", allow_empty=False),
                    reply=str(_text(rule["reply"], f"{where}.reply")),
                )
            )
        values["replies"] = tuple(parsed)
    if "replacement" in data:
        values["replacement"] = _replacement(data["replacement"])
    return ShopperScript(**{**script.__dict__, **values})


def _replacement(data: Any) -> Replacement | None:
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise ScriptError("shopper script: `replacement` must be a mapping or null")
    _unknown(data, _REPLACEMENT_KEYS, "replacement.")
    trigger = data.get("trigger", "greeting")
    if trigger not in ("greeting", "keyword"):
        raise ScriptError("shopper script: `replacement.trigger` must be greeting or keyword")
    keywords = _keywords(
        data.get("keywords", []), "replacement.keywords", allow_empty=trigger != "keyword"
    )
    for key in ("body", "image_url"):
        if key not in data:
            raise ScriptError(f"shopper script: `replacement.{key}` is missing")
    image_url = str(_text(data["image_url"], "replacement.image_url"))
    if not re.match(r"^(https?://|\{base_url\}|data:image/)", image_url):
        raise ScriptError(
            "shopper script: `replacement.image_url` must be an http(s) URL or a data:image/ URL"
        )
    return Replacement(
        trigger=trigger,
        keywords=keywords,
        delay=_seconds(data.get("delay", 30), "replacement.delay"),
        body=str(_text(data["body"], "replacement.body", empty=True)),
        image_url=image_url,
    )


def load_script(source: str | Path | Mapping[str, Any] | None = None) -> ShopperScript:
    """A script from a YAML/JSON file, a mapping, or (None) the built-in default."""
    if source is None:
        return default_script()
    if isinstance(source, Mapping):
        return parse_script(source)
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScriptError(f"cannot read the shopper script {path}: {exc.strerror}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ScriptError(f"the shopper script {path} is not valid YAML/JSON: {exc}") from None
    return parse_script(data)


def default_script() -> ShopperScript:
    """The built-in script (`default_shopper_script.yaml`)."""
    text = (
        resources.files("shopper_chat.devserver")
        .joinpath("default_shopper_script.yaml")
        .read_text(encoding="utf-8")
    )
    return parse_script(yaml.safe_load(text))


class ChatRoom(Protocol):
    """What the scripted shopper needs from the backend that keeps the orders and messages."""

    base_url: str

    def transaction(self) -> AbstractContextManager[None]:
        """One storage transaction (rolled back on an exception)."""

    def open_chat(self, order_id: str) -> tuple[OrderRecord, str] | None:
        """The order and its customer's first name, while its chat is open; else None."""

    def post_as_shopper(self, order: OrderRecord, body: str, image: str) -> None:
        """Store a message from the order's shopper."""

    def mark_customer_messages_read(self, order: OrderRecord) -> None:
        """The shopper has read everything the customer sent."""

    def save_order(self, order: OrderRecord) -> None:
        """Store a changed order."""


class ScriptedShopper:
    """The emulator's stand-in for the Instacart representative who types the shopper's messages.

    It owns its schedule: pending actions (greeting, reply, replacement) are stored records, due
    at a moment of the server's clock, run by `run_due()`. On a frozen clock `run_due()`
    fast-forwards to each due action, so that one request sees the shopper's whole turn.
    """

    def __init__(self, store: Store, clock: Clock, room: ChatRoom, *, script: ShopperScript,
                 enabled: bool, reply_delay: float | None) -> None:  # fmt: skip
        self.clock = clock
        self.room = room
        self._store = store
        self._actions = store.table(ActionRecord)
        self.lock = threading.RLock()
        self.reset(script, enabled=enabled, reply_delay=reply_delay)

    def reset(self, script: ShopperScript, *, enabled: bool, reply_delay: float | None) -> None:
        """Start over with this script (pending actions are the store's, cleared with it)."""
        self.script = script
        self.enabled = enabled and script.enabled
        self.reply_delay = reply_delay

    def configure(self, *, script: ShopperScript | None, enabled: bool | None,
                  reply_delay: float | None, reply_delay_set: bool) -> None:  # fmt: skip
        """Replace the script, switch the shopper (off drops what is pending), set the delay."""
        with self.lock, self.room.transaction():
            if script is not None:
                self.script = script
                if enabled is None:
                    enabled = script.enabled
            if enabled is not None:
                self.enabled = enabled
                if not enabled:
                    for action in self._pending():
                        self._actions.delete(action)
            if reply_delay_set:
                self.reply_delay = reply_delay

    # -- scheduling ------------------------------------------------------------------------------
    def _pending(self) -> list[ActionRecord]:
        return self._actions.children("pending")

    def _schedule(self, order: OrderRecord, kind: str, delay: float, **data: str) -> None:
        if not self.enabled:
            return
        number = int(self._store.get_meta("action_seq") or 0) + 1
        self._store.set_meta("action_seq", number)
        due = self.clock.after(delay)  # never past the clock's last moment: no overflow
        self._actions.insert(ActionRecord.model_validate(
            {"id": number, "kind": kind, "order_id": order.order_id, "due": due, **data}))

    def _reply_delay(self) -> float:
        return self.script.reply_delay if self.reply_delay is None else self.reply_delay

    def shopping_started(self, order: OrderRecord) -> None:
        """The order's batch reached picking: greet (and maybe suggest a replacement after)."""
        script = self.script
        if script.greeting is not None:
            self._schedule(order, "greeting", script.greeting_delay)
        rep = script.replacement
        if rep is not None and rep.trigger == "greeting":
            self._schedule(order, "replacement", script.greeting_delay + rep.delay)

    def customer_wrote(self, order: OrderRecord, text: str) -> None:
        """Answer a customer message later, as the script says (the order may change)."""
        reply = self.script.reply_for(text)
        if reply is not None:
            self._schedule(order, "reply", self._reply_delay(), text=reply, message=text)
        rep = self.script.replacement
        if rep is not None and not order.replacement_sent and self.script.replacement_asked(text):
            order.replacement_sent = True
            self.room.save_order(order)
            self._schedule(order, "replacement", self._reply_delay() + rep.delay)

    def forget(self, order_id: str) -> None:
        """Drop what is pending for an order (it was canceled)."""
        for action in self._pending():
            if action.order_id == order_id:
                self._actions.delete(action)

    def next_due(self) -> datetime | None:
        """When the next pending action is due, or None."""
        pending = self._pending()
        return pending[0].due if pending else None

    # -- running ---------------------------------------------------------------------------------
    def run_due(self) -> int:
        """Run the actions that are due (on a frozen clock, fast-forward to each); how many ran.

        Actions may schedule more (a replacement after the greeting); on a frozen clock those
        run too.
        """
        ran = 0
        with self.lock:
            while True:
                # A read first: most requests find nothing due, and need no write transaction.
                due = self.next_due()
                if due is None or (not self.clock.frozen and due > self.clock.now()):
                    return ran
                with self.room.transaction():
                    pending = self._pending()
                    if not pending:
                        return ran
                    action = pending[0]
                    if self.clock.frozen:
                        self.clock.advance_to(action.due)
                    elif action.due > self.clock.now():
                        return ran
                    self._actions.delete(action)
                    self._perform(action)
                    ran += 1

    def _perform(self, action: ActionRecord) -> None:
        chat = self.room.open_chat(action.order_id) if self.enabled else None
        if chat is None:
            return
        order, customer_name = chat
        values = {"customer_name": customer_name, "shopper_name": self.script.display_name,
                  "message": action.message, "base_url": self.room.base_url.rstrip("/")}
        if action.kind == "greeting" and self.script.greeting is not None:
            self.room.post_as_shopper(order, render(self.script.greeting, **values), "")
        elif action.kind == "reply":
            self.room.mark_customer_messages_read(order)
            self.room.post_as_shopper(order, render(action.text, **values), "")
        elif action.kind == "replacement" and self.script.replacement is not None:
            rep = self.script.replacement
            order.replacement_sent = True
            self.room.save_order(order)
            self.room.post_as_shopper(order, render(rep.body, **values),
                                      render(rep.image_url, **values))  # fmt: skip

    def merged_script(self, data: Mapping[str, Any]) -> ShopperScript:
        """The current script with `data`'s keys over it (`ScriptError` naming a bad key)."""
        return parse_script(data, base=self.script)
