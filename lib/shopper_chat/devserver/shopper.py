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

The script is one way the shopper can talk: an order follows a *scenario* (`scenarios.py`), and the
scenario `script` is this script's keyword rules. The script's `display_name`, `avatar_url` and
`reply_delay` are the shopper's in every scenario.
"""

from __future__ import annotations

import json
import re
import string
import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import yaml

from shopper_chat.contract import UpdateItemRequest

from .clock import Clock
from .records import ActionRecord, ConversationRecord, OrderRecord
from .store import Store

if TYPE_CHECKING:
    from .scenarios import Match, Scenario, Transition

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
    "UnknownScenario",
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
SCENARIO_PLACEHOLDERS = PLACEHOLDERS | {"item", "hello", "item_name", "replacement_name"}
"""What a scenario's texts may also use (`scenarios.py`)."""
SCRIPT = "script"
"""The scenario that follows the shopper script's keyword rules."""
SILENT = "off"
"""The scenario in which the scripted shopper says nothing: a person plays the shopper."""
_TUTORIAL = "tutorial"

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


class UnknownScenario(ValueError):
    """A scenario name the shopper does not know (the message lists the known ones)."""


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
    """Fill a script's (or a scenario's) text's placeholders."""
    return template.format_map({k: values.get(k, "") for k in SCENARIO_PLACEHOLDERS})


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
    return parse_script(read_document(Path(source), "the shopper script", ScriptError))


def read_document(path: Path, what: str, error: type[Exception],
                  load_yaml: Callable[[str], Any] = yaml.safe_load) -> Any:  # fmt: skip
    """The JSON (by its suffix) or YAML document in a file; `error` says what it is (`what`) when
    the file cannot be read or parsed."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror}") from None
    try:
        return json.loads(text) if path.suffix == ".json" else load_yaml(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise error(f"{what} {path} is not valid YAML/JSON: {exc}") from None


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

    def open_chat(self, order_id: str,
                  closing: str | None = None) -> tuple[OrderRecord, str] | None:  # fmt: skip
        """The order and its customer's first name, while its chat is open (or its batch has
        just reached `closing`: the shopper's last word as the chat closes); else None."""

    def post_as_shopper(self, order: OrderRecord, body: str, image: str) -> None:
        """Store a message from the order's shopper."""

    def mark_customer_messages_read(self, order: OrderRecord) -> None:
        """The shopper has read everything the customer sent."""

    def save_order(self, order: OrderRecord) -> None:
        """Store a changed order."""

    def apply_item_update(self, order: OrderRecord, line_num: str,
                          request: UpdateItemRequest) -> bool:  # fmt: skip
        """Update a line by the Sandbox items API's rules; False when the order has no such line."""


class ScriptedShopper:
    """The emulator's stand-in for the Instacart representative who types the shopper's messages.

    It owns its schedule: pending actions (greeting, reply, replacement) are stored records, due
    at a moment of the server's clock, run by `run_due()`. On a frozen clock `run_due()`
    fast-forwards to each due action, so that one request sees the shopper's whole turn.
    """

    def __init__(self, store: Store, clock: Clock, room: ChatRoom, *, script: ShopperScript,
                 enabled: bool, reply_delay: float | None,
                 scenarios: Mapping[str, Scenario] | None = None,
                 scenario: str | None = None) -> None:  # fmt: skip
        self.clock = clock
        self.room = room
        self._store = store
        self._actions = store.table(ActionRecord)
        self._conversations = store.table(ConversationRecord)
        self.scenarios: dict[str, Scenario] = dict(scenarios or {})
        self.lock = threading.RLock()
        self.reset(script, enabled=enabled, reply_delay=reply_delay, scenario=scenario)

    def reset(self, script: ShopperScript, *, enabled: bool, reply_delay: float | None,
              scenario: str | None = None) -> None:  # fmt: skip
        """Start over with this script (pending actions are the store's, cleared with it)."""
        self.script = script
        self.enabled = enabled and script.enabled
        self.reply_delay = reply_delay
        self.default_scenario = scenario or (_TUTORIAL if _TUTORIAL in self.scenarios else SCRIPT)

    def configure(self, *, script: ShopperScript | None, enabled: bool | None,
                  reply_delay: float | None, reply_delay_set: bool,
                  scenario: str | None = None) -> None:  # fmt: skip
        """Replace the script, switch the shopper (off drops what is pending), set the delay and
        the scenario of new orders (a new script: its own rules, unless a scenario is named)."""
        if scenario is not None:
            self.check_scenario(scenario)
        with self.lock, self.room.transaction():
            if script is not None:
                self.script = script
                self.default_scenario = SCRIPT
                if enabled is None:
                    enabled = script.enabled
            if scenario is not None:
                self.default_scenario = scenario
            if enabled is not None:
                self.enabled = enabled
                if not enabled:
                    for action in self._pending():
                        self._actions.delete(action)
            if reply_delay_set:
                self.reply_delay = reply_delay

    # -- scenarios -------------------------------------------------------------------------------
    def check_scenario(self, name: str) -> str:
        """`name` if it is a scenario (or `script`, `off`), else `UnknownScenario`."""
        if name in self.scenarios or name in (SCRIPT, SILENT):
            return name
        known = ", ".join([*self.scenarios, SCRIPT, SILENT])
        raise UnknownScenario(f"is not a known scenario: {name} (known: {known})")

    def conversation(self, order_id: str) -> ConversationRecord:
        """The order's place in its scenario (not stored until the order has one of its own)."""
        stored = self._conversations.get(order_id)
        return stored or ConversationRecord(order_id=order_id, scenario=self.default_scenario)

    def choose_scenario(self, order: OrderRecord, name: str) -> ConversationRecord:
        """The order follows scenario `name` from its start; what was pending for it is dropped.

        When shopping has already started, the scenario begins as it would at `picking`.
        """
        self.check_scenario(name)
        self.forget(order.order_id)
        conversation = ConversationRecord(order_id=order.order_id, scenario=name)
        self._conversations.put(conversation)
        if order.greeted:
            self._start(order, conversation)
        return self._conversations.get(order.order_id) or conversation

    def _scenario(self, conversation: ConversationRecord) -> Scenario | None:
        return self.scenarios.get(conversation.scenario)

    def _start(self, order: OrderRecord, conversation: ConversationRecord) -> None:
        scenario = self._scenario(conversation)
        if scenario is None:
            return
        conversation.state = scenario.start
        conversation.epoch += 1
        conversation.entered_at = self.clock.now()
        self._conversations.put(conversation)
        if not self._on_event(order, conversation, "picking"):
            self._set_timers(order, conversation)

    def _on_event(self, order: OrderRecord, conversation: ConversationRecord, event: str) -> bool:
        """Fire the row of the current state that `event` triggers; False when there is none."""
        scenario = self._scenario(conversation)
        row = None if scenario is None else scenario.react(conversation.state, event=event)
        if scenario is None or row is None:
            return False
        self._fire(order, conversation, scenario, row, delay=row.delay or 0.0)
        return True

    def _fire(self, order: OrderRecord, conversation: ConversationRecord, scenario: Scenario,
              row: Transition, *, delay: float, match: Match | None = None,
              message: str = "") -> None:  # fmt: skip
        """Decide now (the state moves at once, so the next message meets the new state), and
        act after `delay` (say, change the item, start the new state's timers)."""
        state = conversation.state
        index = scenario.states[state].index(row)
        moved = row.to is not None and row.to != state
        if moved:
            assert row.to is not None
            conversation.state = row.to
            conversation.epoch += 1
            conversation.entered_at = self.clock.now()
        self._conversations.put(conversation)
        self._schedule(order, "step", delay, message=message, scenario=scenario.name, state=state,
                       row=index, epoch=conversation.epoch, item=match.item if match else "",
                       greeted=bool(match and match.greeted),
                       entered=moved or row.trigger == "on" and row.event == "picking")

    def _set_timers(self, order: OrderRecord, conversation: ConversationRecord) -> None:
        scenario = self._scenario(conversation)
        if scenario is None:
            return
        for index, row in scenario.timers(conversation.state):
            kind = "timeout" if row.trigger == "timeout" else "step"
            self._schedule(order, kind, row.seconds, scenario=scenario.name,
                           state=conversation.state, row=index, epoch=conversation.epoch)

    # -- scheduling ------------------------------------------------------------------------------
    def _pending(self) -> list[ActionRecord]:
        return self._actions.children("pending")

    def _schedule(self, order: OrderRecord, kind: str, delay: float, **data: Any) -> None:
        if not self.enabled:
            return
        number = int(self._store.get_meta("action_seq") or 0) + 1
        self._store.set_meta("action_seq", number)
        due = self.clock.after(delay)  # never past the clock's last moment: no overflow
        self._actions.insert(ActionRecord.model_validate(
            {"id": number, "kind": kind, "order_id": order.order_id, "due": due, **data}))

    def _reply_delay(self, scenario: Scenario | None = None) -> float:
        # The server's --reply-delay first, then the scenario's, then the script's.
        if self.reply_delay is not None:
            return self.reply_delay
        if scenario is not None and scenario.reply_delay is not None:
            return scenario.reply_delay
        return self.script.reply_delay

    def shopping_started(self, order: OrderRecord) -> None:
        """The order's batch reached picking: the scenario starts (the script: greet, and maybe
        suggest a replacement after)."""
        conversation = self.conversation(order.order_id)
        if conversation.scenario != SCRIPT:
            if self.enabled:
                self._start(order, conversation)
            return
        script = self.script
        if script.greeting is not None:
            self._schedule(order, "greeting", script.greeting_delay)
        rep = script.replacement
        if rep is not None and rep.trigger == "greeting":
            self._schedule(order, "replacement", script.greeting_delay + rep.delay)

    def batch_moved(self, order: OrderRecord, state: str) -> None:
        """The order's batch reached `state` (after picking): the scenario may say something."""
        conversation = self.conversation(order.order_id)
        if self.enabled and conversation.state and state != "picking":
            self._on_event(order, conversation, state)

    def customer_wrote(self, order: OrderRecord, text: str, image: str = "") -> None:
        """Answer a customer message later, as the scenario (or script) says."""
        conversation = self.conversation(order.order_id)
        if conversation.scenario != SCRIPT:
            scenario = self._scenario(conversation)
            if not self.enabled or scenario is None:
                return
            if not conversation.state:
                if not order.greeted:
                    return  # before shopping: nobody to answer yet
                # Shopping started while the shopper was off: it joins where shopping starts,
                # without the greeting it missed.
                opening = scenario.react(scenario.start, event="picking")
                conversation.state = (opening.to if opening and opening.to else scenario.start)
                conversation.entered_at = self.clock.now()
            match = scenario.match(text, bool(image))
            row = scenario.react(conversation.state, match=match)
            if row is not None:
                delay = row.delay if row.delay is not None else self._reply_delay(scenario)
                self._fire(order, conversation, scenario, row, delay=delay, match=match,
                           message=text)
            return
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

    def _runnable(self, pending: list[ActionRecord]) -> ActionRecord | None:
        """The action to run now: the first one due; on a frozen clock, the first one that is
        not a timeout (a timeout waits for the customer, so only a moved clock makes it due)."""
        now = self.clock.now()
        for action in pending:
            if action.due <= now:
                return action
            if not self.clock.frozen:
                return None  # sorted by due: nothing later is due either
            if action.kind != "timeout":
                return action
        return None

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
                if self._runnable(self._pending()) is None:
                    return ran
                with self.room.transaction():
                    action = self._runnable(self._pending())
                    if action is None:
                        return ran
                    if self.clock.frozen and action.due > self.clock.now():
                        self.clock.advance_to(action.due)
                    self._actions.delete(action)
                    self._perform(action)
                    ran += 1

    def _perform(self, action: ActionRecord) -> None:
        if action.kind in ("step", "timeout"):
            if self.enabled:
                self._perform_step(action)
            return
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

    def _perform_step(self, action: ActionRecord) -> None:
        conversation = self._conversations.get(action.order_id)
        scenario = None if conversation is None else self._scenario(conversation)
        if conversation is None or scenario is None or conversation.scenario != action.scenario:
            return  # the order has changed scenario since
        rows = scenario.states.get(action.state, ())
        if not 0 <= action.row < len(rows):
            return
        row = rows[action.row]
        entered = action.entered
        if row.timer:
            # A timer belongs to the state it was set in: any move since makes it void.
            if conversation.epoch != action.epoch or conversation.state != action.state:
                return
            if row.to is not None and row.to != conversation.state:
                conversation.state = row.to
                conversation.epoch += 1
                conversation.entered_at = self.clock.now()
                entered = True
        closing = row.event if row.trigger == "on" else None
        chat = self.room.open_chat(action.order_id, closing=closing)
        if chat is None:
            self._conversations.put(conversation)
            return
        order, customer_name = chat
        if row.item is not None and scenario.item_line:
            replacement = scenario.replacement_item if row.item == "replaced" else None
            request = UpdateItemRequest.model_validate(
                {"status": row.item, "replacement_item": replacement})
            self.room.apply_item_update(order, scenario.item_line, request)
        if row.say or row.image_url:
            values = {"customer_name": customer_name, "shopper_name": self.script.display_name,
                      "message": action.message, "base_url": self.room.base_url.rstrip("/"),
                      "item": action.item, "item_name": scenario.item_name,
                      "replacement_name": scenario.replacement_name,
                      "hello": f"Hi {customer_name}! " if action.greeted and customer_name else ""}
            body = self._fresh_text(conversation, f"{action.state}:{action.row}", row.say, values)
            if row.trigger == "when":  # an answer: the shopper has read what it answers
                self.room.mark_customer_messages_read(order)
            self.room.post_as_shopper(order, body, render(row.image_url, **values))
            conversation.last_said = body
        self._conversations.put(conversation)
        if entered and conversation.epoch == action.epoch + (1 if row.timer else 0):
            self._set_timers(order, conversation)

    @staticmethod
    def _fresh_text(conversation: ConversationRecord, key: str, texts: tuple[str, ...],
                    values: Mapping[str, str]) -> str:  # fmt: skip
        """The row's next text that is not the shopper's last one (texts are used in turn)."""
        if not texts:
            return ""
        start = conversation.turns.get(key, 0)
        options = [render(texts[(start + i) % len(texts)], **values) for i in range(len(texts))]
        for i, text in enumerate(options):
            if text.strip() != conversation.last_said.strip():
                conversation.turns = {**conversation.turns, key: start + i + 1}
                return text
        # Every text of the row is the one just sent: say it differently, never twice in a row.
        conversation.turns = {**conversation.turns, key: start + 1}
        return f"Again: {options[0]}"

    def merged_script(self, data: Mapping[str, Any]) -> ShopperScript:
        """The current script with `data`'s keys over it (`ScriptError` naming a bad key)."""
        return parse_script(data, base=self.script)
