"""Scenarios: what the scripted shopper does on one order, as a small state machine in YAML.

A scenario is data: named states, each a list of transitions. A transition has one trigger and
what the shopper then does:

| trigger | fires when |
|---|---|
| `on: picking` (a batch state) | the batch reaches that state (`picking`: shopping starts) |
| `when: yes` (an intent, or a list: all of them) | the customer writes a message that matches |
| `after: 30` | 30 s in the state (the shopper's own pace: fast-forwarded on a frozen clock) |
| `timeout: 600` | 600 s in the state, waiting for the customer (never fast-forwarded) |

and its actions: `say` (a text, or a list of texts used in turn), `image_url`, `item` (`found`,
`replaced`, `to_refund` or `not_found`: the scenario's `item` line, updated by the Sandbox items
API's rules), `to` (the next state; default: stay), `delay` (seconds before the shopper acts;
default: the reply delay for `when`, 0 otherwise).

Intents: `yes` and `no` (in the ways people say them; whichever comes first in the message),
`thanks`, `greeting`, `replace`, `question` (a `?`), `item` (a name of the scenario's `catalog`),
`image` (a picture is attached), `any` (every message), and any the scenario's `intents` adds.
Every state must answer every message (`when: any`): a customer is never left without an answer.
The shopper never sends the same text twice in a row (a list's next text is used; with one text,
it is said differently).

The rules here are pure: `Scenario.react` decides a transition; `ScriptedShopper` (`shopper.py`)
keeps each order's state and acts.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from shopper_chat import contract

from .shopper import SCENARIO_PLACEHOLDERS, SCRIPT, SILENT, read_document

__all__ = [
    "BUILT_IN",
    "INTENTS",
    "Match",
    "SCENARIO_PLACEHOLDERS",
    "SCRIPT",
    "SILENT",
    "SampleMessage",
    "Scenario",
    "ScenarioError",
    "Transition",
    "built_in_scenarios",
    "load_scenario",
    "match_message",
    "parse_scenario",
]

BUILT_IN = ("tutorial", "replacement", "special-request", "delivery-updates", "out-of-stock-refund")
"""The scenarios shipped with the package (`lib/shopper_chat/devserver/scenarios/NAME.yaml`)."""


INTENTS: Mapping[str, tuple[str, ...]] = {
    # "no problem" and "no worries" say yes: the longest phrase at the same place wins.
    "yes": ("yes", "yeah", "yea", "yep", "yup", "sure", "ok", "okay", "alright", "all right",
            "sounds good", "that works", "works for me", "go ahead", "go for it", "please do",
            "fine", "that's fine", "perfect", "great", "absolutely", "of course", "definitely",
            "no problem", "no worries", "do it", "y", "👍"),
    "no": ("no", "nope", "nah", "don't", "do not", "no thanks", "no thank you", "rather not",
           "skip it", "refund it", "refund them", "never mind", "nevermind", "not really",
           "please don't", "n", "👎"),
    "thanks": ("thanks", "thank you", "thank", "thx", "cheers", "appreciate it"),
    "greeting": ("hi", "hello", "hey", "good morning", "good afternoon", "good evening"),
    "replace": ("replace", "replacement", "substitute", "swap", "out of stock"),
}  # fmt: skip
"""Built-in intents and their phrases (whole words, any case); a scenario's `intents` adds more."""
_SPECIAL_INTENTS = frozenset({"any", "item", "image", "question"})

CATALOG = (
    "bananas", "banana", "apples", "apple", "avocados", "avocado", "milk", "oat milk", "eggs",
    "bread", "tomatoes", "tomato", "onions", "onion", "lettuce", "spinach", "cheese", "yogurt",
    "butter", "coffee", "chicken", "salmon", "rice", "pasta", "berries", "strawberries",
    "blueberries", "lemons", "limes", "peppers", "potatoes", "carrots", "cereal", "orange juice",
    "oranges", "grapes", "plantains", "flowers",
)
"""The item names the `item` intent finds when a scenario gives no `catalog`."""
QUALITIES = (
    "ripe", "green", "yellow", "red", "organic", "fresh", "firm", "soft", "large", "small", "big",
    "whole", "sliced", "frozen", "unripe", "sweet", "lean", "low-fat", "gluten-free", "extra",
    "more", "regular",
)
"""Words kept in front of an item name (`ripe bananas`)."""

ITEM_STATUSES = contract.ITEM_STATUSES
BATCH_EVENTS = frozenset(contract.BATCH_WORKFLOW_STATES)
_TOP = frozenset({"name", "summary", "reply_delay", "item", "replacement", "intents", "catalog",
                  "customer", "finish", "start", "states"})  # fmt: skip
_TRANSITION = frozenset({"on", "when", "after", "timeout", "say", "image_url", "item", "to",
                         "delay"})  # fmt: skip
_TRIGGERS = ("on", "when", "after", "timeout")


class ScenarioError(ValueError):
    """A scenario that cannot be used; the message names the scenario and the bad key."""


@dataclass(frozen=True)
class Transition:
    """One row of a state's table: a trigger and what the shopper does."""

    trigger: str  # "on" | "when" | "after" | "timeout"
    event: str = ""  # `on`: a batch state
    intents: tuple[str, ...] = ()  # `when`: all must match
    seconds: float = 0.0  # `after` / `timeout`
    say: tuple[str, ...] = ()
    image_url: str = ""
    item: str | None = None
    to: str | None = None
    delay: float | None = None

    @property
    def timer(self) -> bool:
        return self.trigger in ("after", "timeout")


@dataclass(frozen=True)
class SampleMessage:
    """A customer message a headless run sends (`body`, and maybe a picture)."""

    body: str
    image_url: str = ""


@dataclass(frozen=True)
class Match:
    """What a customer message says, as the intents see it."""

    intents: frozenset[str]
    item: str = ""
    greeted: bool = False


@dataclass(frozen=True)
class Scenario:
    """A whole scenario: its states and the facts its texts use."""

    name: str
    summary: str
    start: str
    states: Mapping[str, tuple[Transition, ...]]
    reply_delay: float | None = None
    item_line: str = ""
    item_name: str = ""
    replacement_name: str = ""
    replacement_item: Mapping[str, str] | None = None
    intents: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    catalog: tuple[str, ...] = CATALOG
    customer: tuple[SampleMessage, ...] = ()
    finish: tuple[str, ...] = ()
    source: str = "built-in"

    def react(self, state: str, *, event: str | None = None,
              match: Match | None = None) -> Transition | None:  # fmt: skip
        """The transition of `state` that an event or a customer message fires, or None."""
        for row in self.states.get(state, ()):
            if event is not None and row.trigger == "on" and row.event == event:
                return row
            if match is not None and row.trigger == "when" and all(
                    i == "any" or i in match.intents for i in row.intents):  # fmt: skip
                return row
        return None

    def timers(self, state: str) -> list[tuple[int, Transition]]:
        """The timed rows of a state (`after`, `timeout`), with their index in the state."""
        return [(i, row) for i, row in enumerate(self.states.get(state, ())) if row.timer]

    def match(self, text: str, has_image: bool) -> Match:
        """The intents a customer message matches."""
        return match_message(text, has_image, self.intents, self.catalog)

    def describe(self) -> dict[str, Any]:
        """What the control plane lists about it."""
        return {"name": self.name, "summary": self.summary, "states": list(self.states),
                "start": self.start,
                "customer": [{"body": m.body, "image_url": m.image_url} for m in self.customer],
                "finish": list(self.finish), "source": self.source}  # fmt: skip


# -- matching -------------------------------------------------------------------------------------
def _normalize(text: str) -> str:
    return text.replace("\u2019", "'").replace("\u2018", "'").lower()


def _phrase(phrase: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w']){re.escape(_normalize(phrase))}(?![\w'])")


def _first(text: str, phrases: Sequence[str]) -> tuple[int, int] | None:
    """(position, -length) of the earliest (then longest) phrase found, or None."""
    found = [(m.start(), -len(p)) for p in phrases for m in [_phrase(p).search(text)] if m]
    return min(found) if found else None


def match_message(text: str, has_image: bool, extra: Mapping[str, Sequence[str]] | None = None,
                  catalog: Sequence[str] = CATALOG) -> Match:  # fmt: skip
    """The intents of a customer message (see the module's table)."""
    lowered = _normalize(text)
    phrases: dict[str, list[str]] = {k: list(v) for k, v in INTENTS.items()}
    for name, more in (extra or {}).items():
        phrases.setdefault(name, []).extend(more)
    found = {"any"}
    # Yes and no exclude each other: whichever the message says first ("no problem" is a yes).
    yes, no = _first(lowered, phrases.pop("yes")), _first(lowered, phrases.pop("no"))
    if yes is not None and (no is None or yes <= no):
        found.add("yes")
    elif no is not None:
        found.add("no")
    found.update(name for name, words in phrases.items() if _first(lowered, words) is not None)
    if "?" in text:
        found.add("question")
    if has_image:
        found.add("image")
    item = ""
    names = "|".join(re.escape(_normalize(c)) for c in sorted(catalog, key=len, reverse=True))
    qualities = "|".join(re.escape(q) for q in QUALITIES)
    if names:
        hit = re.search(rf"(?<![\w'])(?:(?:{qualities})\s+)?(?:{names})(?![\w'])", lowered)
        if hit:
            found.add("item")
            item = hit.group(0)
    return Match(intents=frozenset(found), item=item, greeted="greeting" in found)


# -- reading YAML ---------------------------------------------------------------------------------
class _Loader(yaml.SafeLoader):
    """YAML as version 1.2 reads booleans: only true and false. Under 1.1 rules (PyYAML's), the
    key `on:` and the answers `when: yes` / `when: no` would turn into true and false."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def read_yaml(text: str) -> Any:
    """A YAML document, booleans read as YAML 1.2 does (`on`, `yes`, `no` stay texts)."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


# -- parsing --------------------------------------------------------------------------------------
class _Reader:
    """Checks one scenario mapping; every error names the scenario and the key."""

    def __init__(self, name: str) -> None:
        self.name = name

    def fail(self, key: str, problem: str) -> ScenarioError:
        return ScenarioError(f"scenario {self.name}: `{key}` {problem}")

    def text(self, value: Any, key: str, *, empty: bool = False) -> str:
        if not isinstance(value, str) or (not empty and not value.strip()):
            raise self.fail(key, "must be a non-empty text")
        try:
            names = {n for _, n, _, _ in string.Formatter().parse(value) if n is not None}
        except ValueError as exc:
            raise self.fail(key, f"has a broken placeholder ({exc})") from None
        unknown = sorted(n for n in names if n not in SCENARIO_PLACEHOLDERS)
        if unknown:
            known = ", ".join("{" + p + "}" for p in sorted(SCENARIO_PLACEHOLDERS))
            raise self.fail(key, f"uses an unknown placeholder {{{unknown[0]}}} (known: {known})")
        return value

    def seconds(self, value: Any, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                0 <= value <= 86400):  # fmt: skip
            raise self.fail(key, "must be a number of seconds from 0 to 86400")
        return float(value)

    def words(self, value: Any, key: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not value or not all(
                isinstance(w, str) and w.strip() for w in value):  # fmt: skip
            raise self.fail(key, "must be a list of non-empty texts")
        return tuple(value)

    def mapping(self, value: Any, key: str, allowed: frozenset[str]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(key, "must be a mapping")
        for k in value:
            if k not in allowed:
                raise self.fail(f"{key}.{k}" if key else str(k),
                                f"is not a known key (known: {', '.join(sorted(allowed))})")
        return value

    def image(self, value: Any, key: str) -> str:
        url = self.text(value, key)
        if not re.match(r"^(https?://|\{base_url\}|data:image/)", url):
            raise self.fail(key, "must be an http(s) URL or a data:image/ URL")
        return url


def parse_scenario(data: Any, *, source: str = "built-in", name: str | None = None) -> Scenario:
    """A checked scenario; `ScenarioError` names the first bad key."""
    given = data.get("name") if isinstance(data, Mapping) else None
    label = name or (given if isinstance(given, str) and given.strip() else "(unnamed)")
    r = _Reader(str(label))
    if not isinstance(data, Mapping):
        raise ScenarioError(f"scenario {label}: a scenario must be a mapping of keys to values")
    r.mapping(data, "", _TOP)
    for key in ("name", "summary", "states"):
        if key not in data:
            raise r.fail(key, "is missing")
    scenario_name = r.text(data["name"], "name")
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", scenario_name) or scenario_name in (SCRIPT, SILENT):
        raise r.fail("name", f"must be lower-case letters, digits and dashes (not {SCRIPT} or "
                             f"{SILENT})")
    summary = r.text(data["summary"], "summary")
    if "\n" in summary.strip():
        raise r.fail("summary", "must be one line")
    values: dict[str, Any] = {"name": scenario_name, "summary": summary.strip(), "source": source}
    if "reply_delay" in data:
        values["reply_delay"] = r.seconds(data["reply_delay"], "reply_delay")
    if "item" in data:
        item = r.mapping(data["item"], "item", frozenset({"line_num", "name"}))
        for key in ("line_num", "name"):
            if key not in item:
                raise r.fail(f"item.{key}", "is missing")
        values["item_line"] = r.text(str(item["line_num"]), "item.line_num")
        values["item_name"] = r.text(item["name"], "item.name")
    if "replacement" in data:
        rep = r.mapping(data["replacement"], "replacement", frozenset({"name", "item"}))
        for key in ("name", "item"):
            if key not in rep:
                raise r.fail(f"replacement.{key}", "is missing")
        values["replacement_name"] = r.text(rep["name"], "replacement.name")
        code = r.mapping(rep["item"], "replacement.item", frozenset({"upc", "rrc"}))
        if not code or not all(isinstance(v, str) and v.strip() for v in code.values()):
            raise r.fail("replacement.item", "must name a upc or an rrc")
        values["replacement_item"] = dict(code)
    if "intents" in data:
        intents = r.mapping(data["intents"], "intents", frozenset(data["intents"] or {}))
        checked = {}
        for intent, words in intents.items():
            if not re.fullmatch(r"[a-z][a-z0-9_]*", str(intent)) or intent in _SPECIAL_INTENTS:
                raise r.fail(f"intents.{intent}", "must be a lower-case name, not one of "
                                                  f"{', '.join(sorted(_SPECIAL_INTENTS))}")
            checked[str(intent)] = r.words(words, f"intents.{intent}")
        values["intents"] = checked
    if "catalog" in data:
        values["catalog"] = r.words(data["catalog"], "catalog")
    if "customer" in data:
        values["customer"] = _samples(r, data["customer"])
    if "finish" in data:
        finish = r.words(data["finish"], "finish")
        for i, state in enumerate(finish):
            if state not in BATCH_EVENTS:
                raise r.fail(f"finish[{i}]", f"is not a batch state: {state}")
        values["finish"] = finish
    known_intents = set(INTENTS) | _SPECIAL_INTENTS | set(values.get("intents", {}))
    states = _states(r, data["states"], known_intents, values)
    start = data.get("start", next(iter(states)))
    if not isinstance(start, str) or start not in states:
        raise r.fail("start", f"must name a state (one of {', '.join(states)})")
    return Scenario(start=start, states=states, **values)


def _samples(r: _Reader, value: Any) -> tuple[SampleMessage, ...]:
    if not isinstance(value, list):
        raise r.fail("customer", "must be a list of messages (texts, or {body, image_url})")
    samples = []
    for i, entry in enumerate(value):
        key = f"customer[{i}]"
        if isinstance(entry, str):
            samples.append(SampleMessage(body=r.text(entry, key)))
            continue
        entry = r.mapping(entry, key, frozenset({"body", "image_url"}))
        if "body" not in entry:
            raise r.fail(f"{key}.body", "is missing")
        image = entry.get("image_url", "")
        if image and not re.match(r"^https?://\S+$", str(image)):
            raise r.fail(f"{key}.image_url", "must be an http(s) URL")
        samples.append(SampleMessage(body=r.text(entry["body"], f"{key}.body"), image_url=image))
    return tuple(samples)


def _states(r: _Reader, value: Any, intents: set[str],
            values: Mapping[str, Any]) -> dict[str, tuple[Transition, ...]]:  # fmt: skip
    if not isinstance(value, Mapping) or not value:
        raise r.fail("states", "must be a mapping of state names to lists of transitions")
    states: dict[str, tuple[Transition, ...]] = {}
    for state, rows in value.items():
        key = f"states.{state}"
        if not isinstance(state, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", state):
            raise r.fail(key, "must be a lower-case name (letters, digits, _)")
        if not isinstance(rows, list) or not rows:
            raise r.fail(key, "must be a list of transitions")
        states[state] = tuple(_transition(r, row, f"{key}[{i}]", intents, values)
                              for i, row in enumerate(rows))  # fmt: skip
        if not any(t.trigger == "when" and t.intents == ("any",) for t in states[state]):
            raise r.fail(key, "has no `when: any` transition: a customer message would go "
                              "unanswered")
    for state, rows in states.items():
        for i, row in enumerate(rows):
            if row.to is not None and row.to not in states:
                raise r.fail(f"states.{state}[{i}].to", f"names no state: {row.to}")
    return states


def _transition(r: _Reader, row: Any, key: str, intents: set[str],
                values: Mapping[str, Any]) -> Transition:  # fmt: skip
    row = r.mapping(row, key, _TRANSITION)
    triggers = [t for t in _TRIGGERS if t in row]
    if len(triggers) != 1:
        raise r.fail(key, "must have exactly one of on, when, after, timeout")
    trigger = triggers[0]
    fields: dict[str, Any] = {"trigger": trigger}
    if trigger == "on":
        if row["on"] not in BATCH_EVENTS:
            raise r.fail(f"{key}.on", f"is not a batch state: {row['on']}")
        fields["event"] = row["on"]
    elif trigger == "when":
        wanted = [row["when"]] if isinstance(row["when"], str) else row["when"]
        names = r.words(wanted, f"{key}.when")
        for name in names:
            if name not in intents:
                raise r.fail(f"{key}.when", f"names an unknown intent: {name} (known: "
                                            f"{', '.join(sorted(intents))})")
        fields["intents"] = names
    else:
        fields["seconds"] = r.seconds(row[trigger], f"{key}.{trigger}")
    say = row.get("say")
    if say is not None:
        texts = [say] if isinstance(say, str) else say
        if not isinstance(texts, list) or not texts:
            raise r.fail(f"{key}.say", "must be a text or a list of texts")
        fields["say"] = tuple(r.text(t, f"{key}.say") for t in texts)
    elif trigger == "when":
        raise r.fail(f"{key}.say", "is missing: a customer message needs an answer")
    if "image_url" in row:
        fields["image_url"] = r.image(row["image_url"], f"{key}.image_url")
    if "item" in row:
        status = row["item"]
        if status not in ITEM_STATUSES:
            raise r.fail(f"{key}.item", f"must be one of {', '.join(ITEM_STATUSES)}")
        if not values.get("item_line"):
            raise r.fail(f"{key}.item", "needs the scenario's `item` (which line it changes)")
        if status == "replaced" and not values.get("replacement_item"):
            raise r.fail(f"{key}.item", "replaced needs the scenario's `replacement`")
        fields["item"] = status
    if "to" in row:
        fields["to"] = r.text(row["to"], f"{key}.to")
    if "delay" in row:
        fields["delay"] = r.seconds(row["delay"], f"{key}.delay")
    return Transition(**fields)


def load_scenario(source: str | Path) -> Scenario:
    """A scenario from a YAML or JSON file."""
    path = Path(source)
    data = read_document(path, "the scenario", ScenarioError, read_yaml)
    return parse_scenario(data, source=str(path), name=str(path))


def built_in_scenarios() -> dict[str, Scenario]:
    """The scenarios shipped with the package, by name."""
    folder = resources.files("shopper_chat.devserver").joinpath("scenarios")
    found = {}
    for name in BUILT_IN:
        text = folder.joinpath(f"{name}.yaml").read_text(encoding="utf-8")
        found[name] = parse_scenario(read_yaml(text), name=name)
    return found
