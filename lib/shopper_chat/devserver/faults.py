"""Fault rules: per route, added latency, an error status, or a dropped connection; before the
request is handled, or after (the handler has run and committed, and its answer is lost, late or
replaced: what a client's recovery after an ambiguous failure is for)."""

from __future__ import annotations

import fnmatch
import random
import threading
from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["FaultRule", "Faults", "RuleError", "When"]

When = Literal["before", "after"]
"""When a rule acts: before the handler (nothing is done), or after it has committed."""


class RuleError(ValueError):
    """A rule that cannot work; `key` names the field at fault."""

    def __init__(self, message: str, *, key: str) -> None:
        super().__init__(message)
        self.key = key


class FaultRule(BaseModel):
    """One rule. It applies to requests whose method and path match (`path` is an fnmatch glob).

    `probability` (seeded) decides per matching request; `times` counts the requests it still
    applies to (None: every one). An applying rule first waits `latency_ms`, then drops the
    connection (`drop`) or answers `status` (with `Retry-After: retry_after` when set).
    `when="before"` does that instead of handling the request; `when="after"` lets the handler
    run and commit first, then delays its answer, drops it, or replaces it with `status`.
    """

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    id: int
    method: str = "*"
    path: str = "*"
    status: int | None = None
    retry_after: int | None = None
    latency_ms: int = 0
    drop: bool = False
    probability: float = 1.0
    times: int | None = None
    when: When = "before"
    applied: int = 0

    def matches(self, method: str, path: str) -> bool:
        """True when the rule is about this request."""
        return fnmatch.fnmatchcase(method.upper(), self.method.upper()) and fnmatch.fnmatchcase(
            path, self.path
        )

    def check(self) -> None:
        """`RuleError` unless the rule does something, and only one thing, to a request."""
        if self.status is None and not self.drop and not self.latency_ms:
            raise RuleError("give a status, drop or latency_ms", key="status")
        if self.status is not None and self.drop:
            raise RuleError("a rule either drops the connection or answers a status", key="drop")


class Faults:
    """The active fault rules, with their own seeded random source (ids are not disturbed)."""

    def __init__(self, seed: int) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._next_id = 1
        self._random = random.Random(seed)

    def add(self, rule: FaultRule) -> FaultRule:
        """Check a rule (`RuleError`), number it and make it active."""
        rule.check()
        with self._lock:
            rule = rule.model_copy(update={"id": self._next_id, "method": rule.method.upper()})
            self._next_id += 1
            self._rules.append(rule)
            return rule

    def list(self) -> list[FaultRule]:
        """The active rules, oldest first."""
        with self._lock:
            return [rule.model_copy() for rule in self._rules]

    def clear(self, seed: int | None = None) -> None:
        """Remove every rule (and reseed the draws when `seed` is given)."""
        with self._lock:
            self._rules.clear()
            self._next_id = 1
            if seed is not None:
                self._random = random.Random(seed)

    def remove(self, rule_id: int) -> bool:
        """Remove one rule; False when there is none with that id."""
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if r.id != rule_id]
            return len(self._rules) != before

    def pick(self, method: str, path: str) -> FaultRule | None:
        """The first rule that applies to this request (and count it), or None."""
        with self._lock:
            for rule in self._rules:
                if not rule.matches(method, path):
                    continue
                if rule.probability < 1.0 and self._random.random() >= rule.probability:
                    continue
                rule.applied += 1
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        self._rules.remove(rule)
                return rule
            return None
