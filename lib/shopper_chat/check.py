"""`shopper-chat check`: hold a server against the contract, and report where it differs.

The development server answers as the contract says, and the contract is partly guessed (the
README's "Where the development server has to guess"). A real Instacart development server may
answer otherwise; this command sends it the tutorial's requests and says, answer by answer, what
differs and whether the client library copes with it.

```python
from shopper_chat import check
report = check.run_check(create=True)        # the embedded development server; or base_url=...
report.exit_code                             # 0 every answer matches, 1 differences
check.format_markdown(report)                # what check.md holds; check.to_frame(report)
```

Two modes:

- **read-only** (the default, safe against any server): the tokens, the order status and the
  conversation of an existing order (`order_id`, `user_id`), and an unknown order;
- **create** (`create=True`, for a development server): the whole tutorial (a customer, slots, a
  hold, an order, a shopper, a batch advanced to `picking`, the conversation, a message, mark
  read), a message of 1001 characters, and the order canceled at the end (Sandbox `canceled`).

Every answer is validated against the committed OpenAPI document (JSON Schema 2020-12; the
operation found by method and path template), made strict about fields it does not list, and
read by the client's own `parse()` into the contract's model (for the conversation, also into
a transcript, whose sender rule the chat panel shares). Errors are held against the contract's
envelope, code and `meta.key`, and mapped by the client's `error_from_response`. Each difference
names its field, what was expected and what came, the README guess it touches (`GUESSES`) and
whether the client copes with it.

`run_check` writes `check.md`, `check.json` and `recording.jsonl` (the client's redacted
recording of every exchange) to its `out` folder. Nothing written holds a secret or a token:
bodies are redacted by key as the recording does, every secret and token seen is scrubbed by
value, and an extra field is described by its type, never its value. The credentials follow the
one rule of `shopper_chat._workbench.resolve_connection`.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import secrets
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import httpx
from pydantic import BaseModel

from shopper_chat import contract
from shopper_chat._secret import Secret
from shopper_chat._time import format_time
from shopper_chat._workbench import Connection, resolve_connection
from shopper_chat.client._auth import user_assertion
from shopper_chat.client._client import ENV_USER_TOKEN
from shopper_chat.client._http import USER_AGENT, RecordingTransport
from shopper_chat.client._parse import parse, shape_problems
from shopper_chat.client._validate import check, check_id, segment
from shopper_chat.client.errors import (
    APIError,
    ConfigurationError,
    InvalidParameterError,
    InvalidRequestError,
    NotFoundError,
    ResponseShapeError,
    error_from_response,
)
from shopper_chat.client.recording import REDACTED, SECRET_KEYS, Recorder
from shopper_chat.contract import (
    CLIENT_GRANT,
    GRANT_SCOPES,
    MAX_MESSAGE_LENGTH,
    USER_GRANT,
    Conversation,
    ErrorCode,
    Messages,
)

if TYPE_CHECKING:
    import pandas as pd
    from jsonschema import Draft202012Validator, FormatChecker
    from jsonschema.exceptions import ValidationError as SchemaError

__all__ = [
    "CheckError",
    "CheckReport",
    "Difference",
    "Exchange",
    "GUESSES",
    "Guess",
    "RouteSummary",
    "add_arguments",
    "format_json",
    "format_markdown",
    "format_summary",
    "guess_for",
    "load_openapi",
    "main",
    "run_check",
    "to_frame",
]

Mode = Literal["read-only", "create"]

CHAT = "/v2/post_checkout/chat/{order_id}/messages"
TOKEN = "/v2/oauth/token"
UNKNOWN_ORDER = "shopper-chat-check-no-such-order"
"""The order id of the deliberate 404: a retailer id no one would give an order."""
MESSAGE = "Hi, this is Sierra. Checking that this server answers as the contract says."


# -- the README's guesses ------------------------------------------------------------------------
@dataclass(frozen=True)
class Guess:
    """A guess of the README's "Where the development server has to guess", by its bold heading,
    and where a difference touches it: `"<METHOD> <path template> <field>"` patterns, in which
    `*` stands for anything and list indices are written `[]`. A field pattern matches the
    answer's status or body as a whole (`(status)`) only when it names it."""

    heading: str
    where: tuple[str, ...]


GUESSES: tuple[Guess, ...] = (
    Guess("`read_at`", (f"GET {CHAT} chat_messages[].read_at",)),
    Guess("`is_expired`", (f"GET {CHAT} metadata.is_expired", f"GET {CHAT} is_expired")),
    Guess("Identity", (f"GET {CHAT} chat_messages[].sender_*",
                       f"GET {CHAT} chat_messages[].recipient_*",
                       f"GET {CHAT} chat_messages[].order_id", f"GET {CHAT} metadata.customer*",
                       f"GET {CHAT} metadata.shoppers*")),
    Guess("`timezone`", (f"POST {CHAT} timezone",)),
    Guess("Check order in POST chat", (f"POST {CHAT} (status)", f"POST {CHAT} error.*",
                                       f"POST {CHAT} meta.*")),
    Guess("Tokens", (f"POST {TOKEN} *",)),
    Guess("Slots", ("POST /v2/fulfillment/users/{user_id}/service_options/* *",)),
    Guess("Order fields", ("POST /v2/fulfillment/users/{user_id}/orders/delivery *",
                           "GET /v2/post_checkout/orders/{order_id} *")),
    Guess("Batches", ("POST /v2/fulfillment_sandbox/batches* *",)),
    Guess("Callbacks", ("POST /v2/fulfillment_sandbox/orders/{order_id}/callbacks *",)),
    Guess("Timestamps", ("* *_at",)),
)
"""Field paths and routes mapped to the README guess they touch: the first match names it."""


def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")) + r"\Z")


def _patterns(where: str) -> tuple[re.Pattern[str], re.Pattern[str], bool]:
    route, _, field_path = where.rpartition(" ")
    return _glob(route), _glob(field_path), field_path.startswith("(")


_GUESS_PATTERNS = tuple((g.heading, tuple(_patterns(w) for w in g.where)) for g in GUESSES)
_INDEX = re.compile(r"\[\d+\]")


def guess_for(route: str, field_path: str) -> str:
    """The heading of the README guess a difference at `field_path` of `route` touches, or ""."""
    field_path = _INDEX.sub("[]", field_path)
    whole = field_path.startswith("(")  # the status, the body: not a field
    for heading, patterns in _GUESS_PATTERNS:
        for route_glob, field_glob, names_whole in patterns:
            if (names_whole == whole and route_glob.match(route)
                    and field_glob.match(field_path)):
                return heading
    return ""


# -- results ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Difference:
    """One way an answer differs from the contract."""

    field: str
    """Where: `chat_messages[0].sender_type` (lists count from 0), `(status)`, `(body)`."""
    expected: str
    got: str
    guess: str
    """The README guess it touches (its heading), or ""."""
    client_copes: bool
    """Whether the client library still works with it (tried, not assumed)."""
    client: str
    """How the client copes, or what it says."""


@dataclass(frozen=True)
class Exchange:
    """One request of the check and what came of it."""

    step: str
    route: str
    """`<METHOD> <path template>`, as the OpenAPI document names the operation."""
    expected_status: int
    status: int | None
    """None when no answer came (see `skipped` for a request not sent)."""
    differences: tuple[Difference, ...] = ()
    client_ok: bool = True
    client: str = ""
    """What the client made of the answer: read into its model, or the error it raised."""
    notes: tuple[str, ...] = ()
    skipped: str = ""
    """Why the request was not sent (an earlier step it needs failed), or ""."""

    @property
    def matches(self) -> bool:
        return not self.skipped and self.status is not None and not self.differences


@dataclass(frozen=True)
class RouteSummary:
    """A route over every exchange that used it."""

    route: str
    checks: int
    differences: int
    client_copes: bool
    verdict: Literal["matches", "differs", "not checked"]


@dataclass(frozen=True)
class CheckReport:
    """What `run_check` found."""

    server: str
    mode: Mode
    credentials: str
    openapi: str
    started_at: str
    exchanges: tuple[Exchange, ...]
    notes: tuple[str, ...] = ()
    out_dir: str = ""

    @property
    def differences(self) -> list[tuple[Exchange, Difference]]:
        return [(e, d) for e in self.exchanges for d in e.differences]

    @property
    def matches(self) -> bool:
        """Every request was sent, and every answer matches."""
        return all(e.matches for e in self.exchanges)

    @property
    def exit_code(self) -> int:
        return 0 if self.matches else 1

    def routes(self) -> list[RouteSummary]:
        """One line per route, in the order the check first used it."""
        by_route: dict[str, list[Exchange]] = {}
        for exchange in self.exchanges:
            by_route.setdefault(exchange.route, []).append(exchange)
        summaries = []
        for route, exchanges in by_route.items():
            sent = [e for e in exchanges if not e.skipped]
            differences = sum(len(e.differences) for e in sent)
            verdict: Literal["matches", "differs", "not checked"] = (
                "not checked" if not sent
                else "matches" if all(e.matches for e in sent) else "differs")
            summaries.append(RouteSummary(
                route, len(sent), differences,
                all(e.client_ok and all(d.client_copes for d in e.differences) for e in sent),
                verdict))
        return summaries


class CheckError(Exception):
    """The check could not run: a bad option, or no server answers. Its text is one sentence."""


# -- the OpenAPI document --------------------------------------------------------------------------
_COMMITTED = Path(__file__).resolve().parents[2] / "openapi.json"


def load_openapi() -> tuple[dict[str, Any], str]:
    """The committed `openapi.json` and where it came from; when the package runs outside its
    source tree, the same document generated from the contract (a test keeps the two equal)."""
    if _COMMITTED.is_file():
        return json.loads(_COMMITTED.read_text(encoding="utf-8")), "openapi.json (committed)"
    from shopper_chat.devserver.openapi import openapi_document

    return openapi_document(), "generated from the contract (no openapi.json beside the source)"


_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})\Z")


def _date_time(value: object) -> bool:
    # JSON Schema's date-time is RFC 3339; jsonschema checks it only with an optional package.
    return not isinstance(value, str) or bool(_RFC3339.match(value))


@functools.cache
def _formats() -> FormatChecker:
    """The formats checked: date-time alone. jsonschema is imported here, not with the module:
    every `shopper-chat` command imports this one for its options, and jsonschema takes a second
    to import."""
    from jsonschema import FormatChecker

    formats = FormatChecker(formats=())
    formats.checks("date-time")(_date_time)
    return formats


def _strict(schema: Any) -> Any:
    """A copy of a schema in which every object with listed properties refuses others: an extra
    field is a difference worth reporting (even though the client keeps it)."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    copy = {key: _strict(value) for key, value in schema.items()}
    if copy.get("type") == "object" and "properties" in copy:
        copy["additionalProperties"] = False
    return copy


class _Document:
    """The operations and the strict schemas of the OpenAPI document."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self._paths: Mapping[str, Any] = document["paths"]
        self._components = _strict(document.get("components", {}))

    def response(self, route: str, status: int) -> dict[str, Any] | None:
        """The answer's schema: the 200 one for any 2xx, else the status's or `default`."""
        method, template = route.split(" ", 1)
        responses = self._paths[template][method.lower()]["responses"]
        key = "200" if 200 <= status < 300 else str(status)
        answer = responses.get(key) or responses.get("default") or {}
        schema = answer.get("content", {}).get("application/json", {}).get("schema")
        return dict(schema) if isinstance(schema, dict) else None

    def validator(self, schema: Mapping[str, Any]) -> Draft202012Validator:
        from jsonschema import Draft202012Validator

        return Draft202012Validator({**schema, "components": self._components},
                                    format_checker=_formats())


def _model_of(schema: Mapping[str, Any]) -> type[BaseModel] | None:
    # The document's component names are the contract's model names.
    name = str(schema.get("$ref", "")).rsplit("/", 1)[-1]
    model = getattr(contract, name, None)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


# -- showing values --------------------------------------------------------------------------------
_JSON_TYPES = {"string": "a string", "integer": "an integer", "number": "a number",
               "boolean": "true or false", "object": "an object", "array": "a list",
               "null": "null"}  # fmt: skip


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "an empty string" if value == "" else "a string"
    return "a list" if isinstance(value, list) else "an object"


def _describe(schema: Any) -> str:
    """What a schema asks for, in a few words."""
    if not isinstance(schema, Mapping):
        return "anything"
    if "$ref" in schema:
        return f"an object ({str(schema['$ref']).rsplit('/', 1)[-1]})"
    for union in ("anyOf", "oneOf"):
        if union in schema:
            return " or ".join(dict.fromkeys(_describe(s) for s in schema[union]))
    if "const" in schema:
        text = json.dumps(schema["const"])
    elif "enum" in schema:
        text = "one of " + ", ".join(json.dumps(v) for v in schema["enum"])
    else:
        kinds = schema.get("type", "anything")
        kinds = kinds if isinstance(kinds, list) else [kinds]
        text = " or ".join(_JSON_TYPES.get(str(k), str(k)) for k in kinds)
        if schema.get("minLength") == 1 and "string" in kinds:
            text = text.replace("a string", "a non-empty string")
        if "format" in schema:
            text += f" ({schema['format']})"
    if "description" in schema and "properties" not in schema:
        text += f" ({schema['description']})"
    return text


class _Scrubber:
    """Shows values for the report, never a secret: by key, as the recording redacts, and by
    value, for every secret and token the check has seen."""

    def __init__(self) -> None:
        self.secrets: set[str] = set()

    def add(self, secret: Secret | str | None) -> None:
        value = secret.get_secret_value() if isinstance(secret, Secret) else secret
        if value and len(value) >= 4:
            self.secrets.add(value)

    def text(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def value(self, loc: Sequence[int | str], value: Any) -> str:
        if any(isinstance(part, str) and part.lower() in SECRET_KEYS for part in loc):
            return REDACTED
        if isinstance(value, (dict, list)):
            return _json_type(value)  # an object or a list: the field is what matters
        # Scrubbed before it is cut short: half a token is still not to be shown.
        shown = self.text(json.dumps(value, ensure_ascii=False))
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        return shown if value in ("", None) else f"{shown} ({_json_type(value)})"


# -- holding an answer against the document ------------------------------------------------------
@dataclass(frozen=True)
class _Found:
    """A difference before the client's verdict: where, what, and its kind."""

    loc: tuple[int | str, ...]
    expected: str
    got: str
    kind: str  # "extra", "missing", "null", "status", "value"


def _path(loc: Sequence[int | str]) -> str:
    return contract.field_key(tuple(loc), first_index=0) if loc else "(response)"


def _schema_differences(
    validator: Draft202012Validator, data: Any, show: _Scrubber
) -> list[_Found]:
    found: list[_Found] = []
    seen: set[tuple[Any, ...]] = set()
    for error in validator.iter_errors(data):
        for item in _from_error(error, show):
            key = (item.loc, item.kind)
            if key not in seen:
                seen.add(key)
                found.append(item)
    return found


def _from_error(error: SchemaError, show: _Scrubber) -> list[_Found]:
    loc = tuple(error.absolute_path)
    kind = error.validator
    instance = error.instance
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    if kind == "required" and isinstance(instance, Mapping):
        wanted = schema.get("properties", {})
        return [_Found((*loc, name), _describe(wanted.get(name)), "missing", "missing")
                for name in error.validator_value if name not in instance]
    if kind == "additionalProperties" and isinstance(instance, Mapping):
        listed = schema.get("properties", {})
        return [_Found((*loc, name), "no such field (not in the contract)",
                       f"an extra field ({_json_type(instance[name])})", "extra")
                for name in instance if name not in listed]
    if kind in ("anyOf", "oneOf") and error.context:
        branch = _fitting_branch(error)
        if branch is not None:
            return [item for sub in branch for item in _from_error(sub, show)]
    return [_Found(loc, _describe(schema), show.value(loc, instance),
                   "null" if instance is None else "value")]


def _fitting_branch(error: SchemaError) -> list[SchemaError] | None:
    """The errors of the one branch of a union whose type fits the value (an object given where
    an object or null may be: what is wrong inside the object), or None."""
    branches: dict[Any, list[SchemaError]] = {}
    for sub in error.context or ():
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    fitting = [errors for errors in branches.values()
               if not any(e.validator in ("type", "enum", "const") and not e.relative_path
                          for e in errors)]
    return fitting[0] if len(fitting) == 1 else None


def _overlaps(a: str, b: str) -> bool:
    return a == b or a.startswith((b + ".", b + "[")) or b.startswith((a + ".", a + "["))


# -- the session -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Expect:
    """What the contract says a request gets: a status, and for an error its code, `meta.key`,
    message and the client's exception class."""

    status: int = 200
    code: int | None = None
    meta_key: str | None = None
    message: str | None = None
    error: type[APIError] | None = None


@dataclass
class _Answer:
    """An answer's JSON and, when the client read it, its model."""

    data: Any = None
    model: BaseModel | None = None
    succeeded: bool = False
    """A 2xx came: the server did it (whatever the shape of its answer)."""

    def get(self, *path: str | int) -> Any:
        """A value of the raw answer (what the next step needs), or None."""
        value = self.data
        for part in path:
            if isinstance(part, int) and isinstance(value, list) and len(value) > part:
                value = value[part]
            elif isinstance(part, str) and isinstance(value, Mapping):
                value = value.get(part)
            else:
                return None
        return value


class _Session:
    def __init__(self, base_url: str, document: _Document, recorder: Recorder,
                 transport: httpx.BaseTransport | None, timeout: float) -> None:
        self.document = document
        self.show = _Scrubber()
        self.recorder = recorder
        self.exchanges: list[Exchange] = []
        self.answered = False
        self._http = httpx.Client(
            base_url=base_url, timeout=timeout, follow_redirects=False,
            transport=RecordingTransport(transport or httpx.HTTPTransport(), recorder),
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
        )  # fmt: skip

    def close(self) -> None:
        self._http.close()

    def secret(self, value: Secret | str | None) -> None:
        self.show.add(value)
        self.recorder.add_secret(value)

    def skip(self, step: str, route: str, why: str, expect: int = 200) -> None:
        self.exchanges.append(Exchange(step, route, expect, None, skipped=why))

    def send(
        self,
        step: str,
        route: str,
        params: Mapping[str, str | int] | None = None,
        *,
        token: Secret | None,
        body: Mapping[str, Any] | None = None,
        expect: _Expect | None = None,
        also: _Also | None = None,
    ) -> _Answer:
        """One request, held against the document, the contract and the client."""
        expect = expect or _Expect()
        method, template = route.split(" ", 1)
        path = template.format(**{k: segment(v) for k, v in (params or {}).items()})
        headers = {"Authorization": f"Bearer {token.get_secret_value()}"} if token else {}
        try:
            response = self._http.request(method, path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if not self.answered:
                raise CheckError(f"no server answers at {self._http.base_url} ({reason})"
                                 ) from None
            got = self.show.text(f"no answer ({reason})")
            self.exchanges.append(Exchange(
                step, route, expect.status, None,
                (Difference("(answer)", f"HTTP {expect.status}", got, guess_for(route, ""),
                            False, "no: the client raises APIConnectionError"),),
                False, "APIConnectionError"))
            return _Answer()
        self.answered = True
        return self._hold(step, route, method, path, response, expect, also)

    def _hold(self, step: str, route: str, method: str, path: str, response: httpx.Response,
              expect: _Expect, also: _Also | None) -> _Answer:  # fmt: skip
        status = response.status_code
        found: list[_Found] = []
        if status != expect.status:
            found.append(_Found((), f"HTTP {expect.status}", f"HTTP {status}", "status"))
        answer = _Answer(succeeded=200 <= status < 300)
        schema = self.document.response(route, status)
        try:
            answer.data = json.loads(response.content)
        except ValueError:
            text = self.show.text(response.text[:60])
            found.append(_Found((), "a JSON body", repr(text), "body"))
            schema = None
        else:
            if schema is not None:
                found += _schema_differences(self.document.validator(schema), answer.data,
                                             self.show)
        problems: list[tuple[str, str]] = []
        notes: list[str] = []
        verdicts: dict[str, tuple[bool, str]] = {}
        if expect.error is None:
            ok, said = self._read(schema, status, method, path, response, answer, problems)
            if answer.model is not None and also is not None:
                try:
                    notes, verdicts = also(answer.model)
                except Exception as exc:  # a server's answer must not end the check
                    ok, said = False, self.show.text(
                        f"parse() reads it, but the transcript fails ({type(exc).__name__}: "
                        f"{exc})")
        else:
            found += self._envelope(answer.data, expect)
            ok, said = self._mapped(status, response, method, path, expect)
        return self._record(step, route, expect, status, found, ok, said, problems, verdicts,
                            answer, notes)

    def _read(self, schema: Mapping[str, Any] | None, status: int, method: str, path: str,
              response: httpx.Response, answer: _Answer,
              problems: list[tuple[str, str]]) -> tuple[bool, str]:  # fmt: skip
        """The client's `parse()` of a success answer (what the client's call would return)."""
        if not answer.succeeded:
            error = error_from_response(status, response.content, method=method, path=path)
            return False, self.show.text(f"raises {type(error).__name__}: {error.message}")
        if schema is None:
            return False, "ResponseShapeError: (response): expected a JSON body"
        data = answer.data
        model = _model_of(schema)
        if model is None:
            return True, "no model to read it into"
        try:
            answer.model = parse(model, data)
        except ResponseShapeError as exc:
            problems += shape_problems(model, data)
            return False, self.show.text(f"ResponseShapeError: {exc.field}: {exc.problem}")
        return True, f"parse() reads it as {model.__name__}"

    def _envelope(self, data: Any, expect: _Expect) -> list[_Found]:
        """The contract's code, `meta.key` and message of an expected error (the schema checks
        the envelope's shape; these are its values)."""
        error = data.get("error") if isinstance(data, Mapping) else None
        if not isinstance(error, Mapping):
            return []  # the schema already says the envelope is not there
        found = []
        meta = data.get("meta")
        got_key = meta.get("key") if isinstance(meta, Mapping) else None
        for loc, want, got in ((("error", "code"), expect.code, error.get("code")),
                               (("meta", "key"), expect.meta_key, got_key),
                               (("error", "message"), expect.message, error.get("message"))):
            if want is not None and got != want:
                found.append(_Found(loc, json.dumps(want), self.show.value(loc, got), "value"))
        return found

    def _mapped(self, status: int, response: httpx.Response, method: str, path: str,
                expect: _Expect) -> tuple[bool, str]:  # fmt: skip
        """The client's `error_from_response` of an expected error: the right class (and the
        field named, where the contract names one)?"""
        if 200 <= status < 300:
            return False, "no error: the client would take the request as done"
        error = error_from_response(status, response.content, method=method, path=path)
        said = f"raises {type(error).__name__} (code {error.code}, meta_key {error.meta_key!r})"
        assert expect.error is not None
        ok = isinstance(error, expect.error) and (
            expect.meta_key is None or error.meta_key == expect.meta_key)
        return ok, self.show.text(said)

    def _record(self, step: str, route: str, expect: _Expect, status: int,
                found: list[_Found], ok: bool, said: str, problems: list[tuple[str, str]],
                verdicts: Mapping[str, tuple[bool, str]], answer: _Answer,
                notes: Sequence[str] = ()) -> _Answer:  # fmt: skip
        differences = []
        for item in found:
            where = _path(item.loc) if item.kind not in ("status", "body") else f"({item.kind})"
            copes, how = self._copes(item, where, ok, said, problems, verdicts, expect)
            differences.append(Difference(where, item.expected, item.got,
                                          guess_for(route, where), copes, how))
        self.exchanges.append(Exchange(step, route, expect.status, status, tuple(differences),
                                       ok, said, tuple(notes)))
        return answer

    @staticmethod
    def _copes(item: _Found, where: str, ok: bool, said: str, problems: list[tuple[str, str]],
               verdicts: Mapping[str, tuple[bool, str]],
               expect: _Expect) -> tuple[bool, str]:  # fmt: skip
        """Whether the client works with this difference: from what it did with the answer."""
        if item.kind == "status":
            if expect.error is None and ok:
                return True, "yes: the client takes any 2xx"
            return ok, ("yes: " if ok else "no: ") + said
        if expect.error is not None:
            if item.kind == "extra":
                return True, "yes: extra fields of an error are ignored"
            return ok, ("yes: still " if ok else "no: ") + said
        if item.kind == "body" or (not ok and not problems):
            return False, "no: " + said
        for field_path, problem in problems:
            if _overlaps(field_path, where):
                return False, f"no: ResponseShapeError: {field_path}: {problem}"
        if where in verdicts:
            return verdicts[where]
        if item.kind == "extra":
            return True, "yes: kept in the model's model_extra, otherwise ignored"
        if item.kind == "null":
            return True, 'yes: read as "" (or the field\'s default)'
        if item.kind == "missing":
            return True, "yes: read as the contract's default"
        return True, "yes: parse() reads it"


_Also = Callable[[BaseModel], tuple[list[str], dict[str, tuple[bool, str]]]]
"""A further try of a read answer: notes, and verdicts on fields (`_conversation_check`)."""


def _conversation_check(model: BaseModel) -> tuple[list[str], dict[str, tuple[bool, str]]]:
    """Try a conversation the way the transcripts and the chat panel use it: who sent each
    message (`ChatMetadata.sender_role`), and a transcript rendered."""
    from shopper_chat import transcripts

    assert isinstance(model, Conversation)
    frame = transcripts.to_frame(model)
    transcripts.to_markdown(frame)
    transcripts.to_html(frame)
    roles = [model.metadata.sender_role(m) for m in model.chat_messages]
    counts = {role: roles.count(role) for role in ("shopper", "customer", "unknown")}
    notes = [f"transcript and panel: {len(roles)} message(s): {counts['shopper']} from the "
             f"shopper, {counts['customer']} from the customer, {counts['unknown']} unknown"]
    verdicts: dict[str, tuple[bool, str]] = {}
    for i, (message, role) in enumerate(zip(model.chat_messages, roles, strict=True)):
        for name in ("sender_type", "recipient_type", "sender_id", "recipient_id"):
            where = f"chat_messages[{i}].{name}"
            if role == "unknown":
                verdicts[where] = (False, f"no: parse() reads it, but the transcript and the "
                                          f"panel cannot tell who sent message {message.id}")
            elif message.sender_type == "":
                verdicts[where] = (True, f"yes: the transcript and the panel tell the {role} by "
                                         f"the ids in the conversation's metadata")
    return notes, verdicts


# -- the tutorial's requests -----------------------------------------------------------------------
@dataclass
class _Plan:
    mode: Mode
    order_id: str
    user_id: str
    client_id: str
    client_secret: Secret | None
    user_token: Secret | None
    credentials: str
    """Whose credentials, for the report and for the sentence when the server refuses them."""


def _token_body(plan: _Plan, grant: str) -> dict[str, Any]:
    assert plan.client_secret is not None
    body = {"client_id": plan.client_id, "client_secret": plan.client_secret.get_secret_value(),
            "grant_type": grant, "scope": GRANT_SCOPES[grant]}
    if grant == USER_GRANT:
        body["assertion"] = user_assertion(plan.user_id)
    return body


def _token(session: _Session, answer: _Answer) -> Secret | None:
    value = answer.get("access_token")
    if not isinstance(value, str) or not value:
        return None
    token = Secret(value)
    session.secret(token)
    return token


def _run_steps(session: _Session, plan: _Plan) -> list[str]:
    """The check's requests, in the tutorial's order; returns notes for the report."""
    notes: list[str] = []
    retailer: Secret | None = None
    if plan.client_secret is not None:
        answer = session.send("the retailer's token (client credentials)", f"POST {TOKEN}",
                              token=None, body=_token_body(plan, CLIENT_GRANT))
        if session.exchanges[-1].status == 401:
            # Not a difference from the contract: nothing else can be checked without a token.
            raise CheckError(f"the server refused the credentials ({plan.credentials}): set "
                             "CONNECT_CLIENT_ID and CONNECT_CLIENT_SECRET to your development "
                             "server's")
        retailer = _token(session, answer)
    order_ready = plan.mode == "read-only"
    if plan.mode == "create":
        order_ready = _create_order(session, plan, retailer)
        _start_shopping(session, plan, retailer, order_ready)

    customer = plan.user_token
    if plan.client_secret is not None:
        answer = session.send("the customer's user access token (user assertion)",
                              f"POST {TOKEN}", token=None, body=_token_body(plan, USER_GRANT))
        customer = _token(session, answer)
    else:
        notes.append("No client credentials: the tokens were not requested; "
                     f"{ENV_USER_TOKEN} was sent as it is.")
    _chat(session, plan, customer, order_ready)
    if plan.mode == "create":
        _cancel(session, plan, retailer, order_ready, notes)
    return notes


def _needs(session: _Session, step: str, route: str, **needed: Any) -> bool:
    missing = [name for name, value in needed.items() if value is None or value is False]
    if missing:
        session.skip(step, route, "needs " + " and ".join(m.replace("_", " ") for m in missing))
    return not missing


def _create_order(session: _Session, plan: _Plan, token: Secret | None) -> bool:
    from shopper_chat.tutorial import DEFAULT_ADDRESS, DEFAULT_FIRST_NAME, DEFAULT_ITEMS

    users = "/v2/fulfillment/users"
    user = {"user_id": plan.user_id}
    address, items = dict(DEFAULT_ADDRESS), [dict(i) for i in DEFAULT_ITEMS]
    step, route = "create the customer", f"POST {users}"
    created = False
    if _needs(session, step, route, retailer_token=token):
        body = check(contract.CreateUserRequest, user_id=plan.user_id,
                     first_name=DEFAULT_FIRST_NAME)
        created = session.send(step, route, token=token, body=body).succeeded
    step, route = "delivery slots for the cart", (
        f"POST {users}/{{user_id}}/service_options/cart/delivery")
    slot: Any = None
    if _needs(session, step, route, retailer_token=token, customer=created):
        body = check(contract.DeliveryOptionsRequest, address=address, items=items)
        slot = session.send(step, route, user, token=token, body=body).get(
            "service_options", 0, "id")
    step = "hold a slot"
    route = f"POST {users}/{{user_id}}/service_options/{{service_option_id}}/reserve"
    hold: Any = None
    if _needs(session, step, route, retailer_token=token, slot=slot):
        hold = session.send(step, route, {**user, "service_option_id": slot}, token=token).get(
            "service_option_hold", "id")
    step, route = "create the delivery order", f"POST {users}/{{user_id}}/orders/delivery"
    if not _needs(session, step, route, retailer_token=token, hold=hold):
        return False
    body = check(contract.CreateOrderRequest, order_id=plan.order_id,
                 service_option_hold_id=hold, initial_tip_cents=0, address=address,
                 items=items) if isinstance(hold, int) else {
        "order_id": plan.order_id, "service_option_hold_id": hold, "initial_tip_cents": 0,
        "address": address, "items": items}  # a hold id of another type: sent as it came
    return session.send(step, route, user, token=token, body=body).succeeded


def _start_shopping(session: _Session, plan: _Plan, token: Secret | None, order: bool) -> None:
    sandbox = "/v2/fulfillment_sandbox"
    step, route = "create a shopper", f"POST {sandbox}/shoppers"
    shopper: Any = None
    if _needs(session, step, route, retailer_token=token):
        shopper = session.send(step, route, token=token, body={}).get("id")
    step, route = "batch the order for the shopper", f"POST {sandbox}/batches"
    batch: Any = None
    if _needs(session, step, route, retailer_token=token, shopper=shopper, order=order):
        body = {"batch_type": "delivery", "shopper_id": shopper,
                "orders": [{"id": plan.order_id, "user_id": plan.user_id}]}
        batch = session.send(step, route, token=token, body=body).get("id")
    step, route = "advance the batch to picking", f"POST {sandbox}/batches/{{batch_id}}/advance"
    if _needs(session, step, route, retailer_token=token, batch=batch):
        session.send(step, route, {"batch_id": batch}, token=token,
                     body={"workflow_state": "picking"})


def _chat(session: _Session, plan: _Plan, token: Secret | None, order: bool) -> None:
    order_params = {"order_id": plan.order_id}
    step, route = "order status", "GET /v2/post_checkout/orders/{order_id}"
    if _needs(session, step, route, user_token=token, order=order):
        session.send(step, route, order_params, token=token)
    step, route = "the conversation", f"GET {CHAT}"
    if _needs(session, step, route, user_token=token, order=order):
        session.send(step, route, order_params, token=token, also=_conversation_check)
    if plan.mode == "create":
        step, route = "send a message", f"POST {CHAT}"
        if _needs(session, step, route, user_token=token, order=order):
            session.send(step, route, order_params, token=token,
                         body={"body": MESSAGE, "image_url": ""})  # the tutorial's form
        step, route = "mark the messages read", f"PUT {CHAT}"
        if _needs(session, step, route, user_token=token, order=order):
            session.send(step, route, order_params, token=token)
        step, route = "the conversation after sending", f"GET {CHAT}"
        if _needs(session, step, route, user_token=token, order=order):
            session.send(step, route, order_params, token=token, also=_conversation_check)

    not_found = _Expect(404, ErrorCode.NOT_FOUND, None, Messages.NOT_FOUND, NotFoundError)
    step, route = "an unknown order (404, code 4000)", f"GET {CHAT}"
    if _needs(session, step, route, user_token=token):
        session.send(step, route, {"order_id": UNKNOWN_ORDER}, token=token, expect=not_found)
    if plan.mode == "create":
        too_long = _Expect(400, ErrorCode.INVALID_PARAMETER, "body",
                           Messages.TOO_LONG.format(max_length=MAX_MESSAGE_LENGTH),
                           InvalidParameterError)
        step = f"a body of {MAX_MESSAGE_LENGTH + 1} characters (400, code 1001, key body)"
        route = f"POST {CHAT}"
        if _needs(session, step, route, user_token=token, order=order):
            session.send(step, route, order_params, token=token, expect=too_long,
                         body={"body": "x" * (MAX_MESSAGE_LENGTH + 1), "image_url": ""})


def _cancel(session: _Session, plan: _Plan, token: Secret | None, order: bool,
            notes: list[str]) -> None:
    step, route = "cancel the order", "POST /v2/fulfillment_sandbox/orders/{order_id}/callbacks"
    if not _needs(session, step, route, retailer_token=token, order=order):
        return
    canceled = session.send(step, route, {"order_id": plan.order_id}, token=token,
                            body=check(contract.SandboxCallbackRequest, event_name="canceled"))
    # Say what the check left on the server: the ids are nowhere else in the report.
    if canceled.succeeded:
        notes.append(f"Created the customer {plan.user_id} and the order {plan.order_id}, "
                     "then canceled the order.")
    else:
        notes.append(f"Created the customer {plan.user_id} and the order {plan.order_id}; the "
                     "order could not be canceled: cancel it by hand if the server keeps it.")


# -- running it ------------------------------------------------------------------------------------
def _default_out_dir(now: datetime | None = None) -> Path:
    """`outputs/check-<UTC>`, a new folder (suffixed when one of that second exists)."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    base = Path("outputs") / f"check-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


@contextmanager
def _server_for(connection: Connection) -> Iterator[str]:
    """The base URL to check: the configured one, or an embedded development server's."""
    if connection.base_url is not None:
        yield connection.base_url
        return
    from shopper_chat import devserver

    assert connection.client_secret is not None  # embedded: always a pair
    server = devserver.start(client_id=connection.client_id,
                             client_secret=connection.client_secret.get_secret_value())
    try:
        yield server.base_url
    finally:
        server.stop()


def run_check(
    base_url: str | None = None,
    *,
    order_id: str | None = None,
    user_id: str | None = None,
    create: bool = False,
    out: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
    timeout: float = 10.0,
) -> CheckReport:
    """Check a server (`base_url`, else `CONNECT_BASE_URL`, else an embedded development server)
    against the contract, write `check.md`, `check.json` and `recording.jsonl` to `out` (default
    `outputs/check-<UTC>`), and return the report.

    Read-only without `create`: needs `order_id` and `user_id` (an existing order and its
    customer). With `create`, they name the customer and order to create (default: new ids).
    Raises `CheckError` (one sentence) for bad options or when no server answers.
    """
    mode: Mode = "create" if create else "read-only"
    env: Mapping[str, str] = environ if environ is not None else os.environ
    try:
        connection = resolve_connection(base_url, environ=env, base_url_label="--base-url")
    except ConfigurationError as exc:
        raise CheckError(str(exc)) from None
    plan = _plan(mode, order_id, user_id, connection, env)
    document, source = load_openapi()
    folder = Path(out) if out is not None else _default_out_dir()
    made = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CheckError(f"cannot write the report to {folder}: {exc.strerror or exc}") from None
    recording = folder / "recording.jsonl"
    recording.unlink(missing_ok=True)  # a report describes one run
    started = format_time(datetime.now(timezone.utc))
    try:
        with _server_for(connection) as url:
            session = _Session(url, _Document(document), Recorder(recording), transport,
                               timeout)
            session.secret(plan.client_secret)
            session.secret(plan.user_token)
            try:
                notes = _run_steps(session, plan)
            finally:
                session.close()
    except CheckError:
        # No report comes of it: leave nothing behind but a folder that was there before.
        recording.unlink(missing_ok=True)
        if made:
            folder.rmdir()
        raise
    # The base URL carries no credentials, query or fragment: resolve_connection refuses them.
    server = "an embedded development server" if connection.embedded else url
    report = CheckReport(server, mode, plan.credentials, source, started,
                         tuple(session.exchanges), tuple(notes), str(folder))
    _write(report, folder, session.show)
    return report


def _plan(mode: Mode, order_id: str | None, user_id: str | None, connection: Connection,
          env: Mapping[str, str]) -> _Plan:  # fmt: skip
    if (order_id is None) != (user_id is None):
        given, other = ("--order-id", "--user-id") if order_id else ("--user-id", "--order-id")
        raise CheckError(f"{given} needs {other} too: the order and its customer go together")
    try:
        oid = check_id("order_id", order_id) if order_id is not None else None
        uid = check_id("user_id", user_id) if user_id is not None else None
    except InvalidRequestError as exc:
        raise CheckError(f"--{str(exc.param).replace('_', '-')}: {exc}") from None
    user_token = (env.get(ENV_USER_TOKEN) or "").strip()
    token = Secret(user_token) if connection.credentials == "user token" else None
    credentials = {"yours": "yours, from CONNECT_CLIENT_ID / CONNECT_CLIENT_SECRET",
                   "local": "the development server's local ones: none were set",
                   "user token": f"none; {ENV_USER_TOKEN} as it is"}[connection.credentials]
    if mode == "read-only":
        if oid is None or uid is None:
            raise CheckError("read-only mode reads an existing order: pass --order-id ID "
                             "--user-id ID (the order and its customer), or --create to make "
                             "one (on a development server)")
        return _Plan(mode, oid, uid, connection.client_id, connection.client_secret, token,
                     credentials)
    if connection.client_secret is None:
        raise CheckError("--create needs client credentials: set CONNECT_CLIENT_ID and "
                         "CONNECT_CLIENT_SECRET (a user access token alone cannot create)")
    tag = secrets.token_hex(4)
    return _Plan(mode, oid or f"check-order-{tag}", uid or f"check-customer-{tag}",
                 connection.client_id, connection.client_secret, token, credentials)


def _write(report: CheckReport, folder: Path, show: _Scrubber) -> None:
    # A last guard: nothing written holds a secret or token seen in the run.
    (folder / "check.md").write_text(show.text(format_markdown(report)), encoding="utf-8")
    (folder / "check.json").write_text(show.text(format_json(report)), encoding="utf-8")


# -- formatting (pure) -----------------------------------------------------------------------------
def format_json(report: CheckReport) -> str:
    """The report as JSON (`check.json`)."""
    data = asdict(report)
    data["matches"] = report.matches
    data["exit_code"] = report.exit_code
    data["routes"] = [asdict(r) for r in report.routes()]
    for exchange, raw in zip(report.exchanges, data["exchanges"], strict=True):
        raw["matches"] = exchange.matches
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def format_markdown(report: CheckReport) -> str:
    """The report as Markdown (`check.md`): routes, differences, then every exchange."""
    verdict = ("every answer matches the contract" if report.matches else
               f"{len(report.differences)} difference(s) from the contract")
    lines = [
        "# shopper-chat check", "",
        f"- server: {report.server}", f"- mode: {report.mode}",
        f"- credentials: {report.credentials}", f"- OpenAPI document: {report.openapi}",
        f"- started: {report.started_at}", f"- verdict: {verdict}", "",
        "## Routes", "",
        "| route | checks | verdict | differences | client copes |",
        "|---|---|---|---|---|",
    ]
    for r in report.routes():
        copes = "" if r.verdict == "not checked" else ("yes" if r.client_copes else "no")
        lines.append(f"| `{r.route}` | {r.checks} | {r.verdict} | {r.differences} | {copes} |")
    lines += ["", "## Differences", ""]
    if not report.differences:
        lines.append("None.")
    else:
        lines += ["| route | step | field | expected | got | README guess | client copes |",
                  "|---|---|---|---|---|---|---|"]
        for exchange, d in report.differences:
            lines.append(
                f"| `{exchange.route}` | {_cell(exchange.step)} | `{_cell(d.field)}` | "
                f"{_cell(d.expected)} | {_cell(d.got)} | {_cell(d.guess) or '-'} | "
                f"{_cell(d.client)} |")
    lines += ["", "## Exchanges", ""]
    for i, e in enumerate(report.exchanges, 1):
        if e.skipped:
            lines.append(f"{i}. {e.step}: `{e.route}`: not sent ({e.skipped})")
            continue
        status = "no answer" if e.status is None else f"HTTP {e.status}"
        state = "matches" if e.matches else f"{len(e.differences)} difference(s)"
        lines.append(f"{i}. {e.step}: `{e.route}`: {status}, {state}; client: {e.client}")
        lines += [f"   - {note}" for note in e.notes]
    if report.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in report.notes]
    lines += ["", "A difference from your server: open an issue with this file attached.", ""]
    return "\n".join(lines)


def format_summary(report: CheckReport) -> str:
    """What the command prints: one line per route, then the verdict."""
    routes = report.routes()
    width = max((len(r.route) for r in routes), default=0) + 2
    lines = [f"shopper-chat check: {report.server}, {report.mode} mode, "
             f"{sum(1 for e in report.exchanges if not e.skipped)} requests"]
    for r in routes:
        detail = {"matches": "matches", "not checked": "not checked"}.get(
            r.verdict, f"{r.differences} difference(s); the client "
                       f"{'copes' if r.client_copes else 'does not cope with every one'}")
        lines.append(f"{r.route} {'.' * (width - len(r.route))} {detail}")
    for exchange, d in report.differences:
        lines.append(f"  {exchange.step}: {d.field}: expected {d.expected}, got {d.got}")
    lines += [f"note: {note}" for note in report.notes]
    verdict = ("every answer matches the contract" if report.matches else
               f"{len(report.differences)} difference(s)")
    where = f"; wrote {report.out_dir}/check.md" if report.out_dir else ""
    lines.append(f"check {'passed' if report.matches else 'FOUND DIFFERENCES'}: {verdict}{where}")
    return "\n".join(lines)


def to_frame(report: CheckReport) -> pd.DataFrame:
    """The routes as a table (a notebook shows it): route, checks, verdict, differences, and
    whether the client copes."""
    import pandas as pd

    rows = [{"route": r.route, "checks": r.checks, "verdict": r.verdict,
             "differences": r.differences,
             "client copes": "" if r.verdict == "not checked" else
             ("yes" if r.client_copes else "no")} for r in report.routes()]  # fmt: skip
    return pd.DataFrame(rows, columns=["route", "checks", "verdict", "differences",
                                       "client copes"])


# -- the command -----------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `shopper-chat check`."""
    parser.add_argument("--base-url", default=None,
                        help="the server to check (default CONNECT_BASE_URL; without either, an "
                             "embedded development server)")
    parser.add_argument("--order-id", default=None,
                        help="read-only: an existing order to read (with --user-id); with "
                             "--create, the id to give the new order")
    parser.add_argument("--user-id", default=None, help="the order's customer (retailer's id)")
    parser.add_argument("--create", action="store_true",
                        help="run the whole tutorial (creates a customer, an order, a shopper, "
                             "a batch, a message; cancels the order): for a development server")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for check.md, check.json, recording.jsonl "
                             "(default outputs/check-<UTC>)")


def main(args: argparse.Namespace) -> int:
    """Run `shopper-chat check` from parsed options; the one place that prints."""
    try:
        report = run_check(args.base_url, order_id=args.order_id, user_id=args.user_id,
                           create=args.create, out=args.out)
    except CheckError as exc:
        print(f"shopper-chat check: {exc}.", file=sys.stderr)
        return 2
    except OSError as exc:  # the report folder went away or filled up mid-run
        print(f"shopper-chat check: cannot write the report: {exc}.", file=sys.stderr)
        return 2
    print(format_summary(report))
    return report.exit_code
