"""The scripted shopper: its script (data a user can change) and what it says when.

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
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "DEFAULT_GREETING",
    "Replacement",
    "ReplyRule",
    "ScriptError",
    "ShopperScript",
    "default_script",
    "load_script",
    "render",
]

DEFAULT_GREETING = (
    "Hi, this is Zelma, your shopper. I'm just getting started on your shopping list."
)
PLACEHOLDERS = frozenset({"customer_name", "shopper_name", "message", "base_url"})


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
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 86400:
        raise ScriptError(f"shopper script: `{key}` must be a number of seconds from 0 to 86400")
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


def script_to_dict(script: ShopperScript) -> dict[str, Any]:
    """The script as JSON data (for GET /_emulator/shopper)."""
    rep = script.replacement
    return {
        "enabled": script.enabled,
        "display_name": script.display_name,
        "avatar_url": script.avatar_url,
        "greeting": script.greeting,
        "greeting_delay": script.greeting_delay,
        "reply_delay": script.reply_delay,
        "replies": [{"keywords": list(r.keywords), "reply": r.reply} for r in script.replies],
        "default_reply": script.default_reply,
        "replacement": None
        if rep is None
        else {
            "trigger": rep.trigger,
            "keywords": list(rep.keywords),
            "delay": rep.delay,
            "body": rep.body,
            "image_url": rep.image_url,
        },
    }
