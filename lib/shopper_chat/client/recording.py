"""Recording a session: every request and answer as one JSON line, secrets redacted.

`Client(..., record_to="session.jsonl")` appends one line per HTTP exchange (each retry is its
own line):

```json
{"time": "2026-01-15T17:00:00.123Z", "method": "POST", "path": "/v2/oauth/token",
 "status": 200, "duration_ms": 3.1, "attempt": 1, "request": {"client_secret": "[REDACTED]", ...},
 "response": {"access_token": "[REDACTED]", ...}, "error": null}
```

Redaction is by key, at any depth (`access_token`, `client_secret`, `assertion`, `authorization`,
`password`, `refresh_token`, `token`), and, as a second guard, by value: every secret the client
holds is replaced wherever it appears in a line. Headers are not recorded.
`read_recording(path)` reads a file back as a list of dicts.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from shopper_chat._secret import Secret
from shopper_chat._time import format_time

__all__ = ["REDACTED", "SECRET_KEYS", "Recorder", "read_recording", "redact"]

REDACTED = "[REDACTED]"

SECRET_KEYS = frozenset(
    {"access_token", "assertion", "authorization", "client_secret", "password", "refresh_token",
     "token"}
)
"""Keys whose values never reach a recording (compared case-insensitively)."""


def redact(value: Any) -> Any:
    """A copy of a JSON-like value with every secret key's value replaced by `[REDACTED]`."""
    if isinstance(value, Mapping):
        return {
            str(k): (REDACTED if str(k).lower() in SECRET_KEYS else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, Secret):
        return REDACTED
    return value


def _body(content: bytes | None) -> Any:
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        text = content.decode("utf-8", errors="replace")
        return text if len(text) <= 2000 else text[:2000] + "..."


class Recorder:
    """Appends redacted exchanges to a JSON Lines file (thread-safe)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._secrets: set[str] = set()

    def add_secret(self, secret: Secret | str | None) -> None:
        """Also scrub this value wherever it appears (tokens the client receives)."""
        if secret is None:
            return
        value = secret.get_secret_value() if isinstance(secret, Secret) else secret
        if len(value) >= 4:
            with self._lock:
                self._secrets.add(value)

    def record(
        self,
        *,
        method: str,
        path: str,
        status: int | None,
        duration: float,
        request_body: bytes | None,
        response_body: bytes | None,
        attempt: int = 1,
        error: str | None = None,
    ) -> None:
        """Write one exchange (`status` None when no answer came: see `error`)."""
        entry = {
            "time": format_time(datetime.now(timezone.utc), milliseconds=True),
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": round(duration * 1000, 3),
            "attempt": attempt,
            "request": redact(_body(request_body)),
            "response": redact(_body(response_body)),
            "error": error,
        }
        line = json.dumps(entry, ensure_ascii=False)
        with self._lock:
            for secret in self._secrets:
                line = line.replace(secret, REDACTED)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(line + "\n")

    def __repr__(self) -> str:
        return f"Recorder({str(self.path)!r})"


def read_recording(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every exchange of a recording, in order."""
    lines: Iterable[str] = Path(path).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]
