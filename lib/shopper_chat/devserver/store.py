"""SQLite storage behind the backend: JSON records by kind, and a small key-value table.

One connection, guarded by a lock: the HTTP handlers and the scripted shopper's background task
share it. `transaction()` commits on success and rolls back on any exception, so that a refused
request changes nothing.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["Store"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    parent TEXT,
    seq REAL NOT NULL DEFAULT 0,
    data TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX IF NOT EXISTS records_parent ON records (kind, parent, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

Record = dict[str, Any]


class Store:
    """Records of several kinds (`user`, `order`, `message`, ...) in one SQLite database."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._depth = 0
        self._conn = sqlite3.connect(
            path or ":memory:", check_same_thread=False, isolation_level=None
        )
        if path:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the lock; commit at the end, roll back on an exception (nested calls join)."""
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._conn.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if outer:
                    self._conn.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outer:
                self._conn.execute("COMMIT")

    def put(
        self, kind: str, key: str, data: Record, parent: str | None = None, seq: float = 0
    ) -> None:
        """Insert or replace a record."""
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO records (kind, id, parent, seq, data) VALUES (?,?,?,?,?)",
                (kind, key, parent, seq, json.dumps(data, separators=(",", ":"))),
            )

    def get(self, kind: str, key: str) -> Record | None:
        """One record, or None."""
        with self._lock:
            row = self._conn.execute(
                "SELECT data FROM records WHERE kind = ? AND id = ?", (kind, key)
            ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def exists(self, kind: str, key: str) -> bool:
        """True when the record is stored."""
        return self.get(kind, key) is not None

    def delete(self, kind: str, key: str) -> None:
        """Remove a record (no error when it is absent)."""
        with self._lock:
            self._conn.execute("DELETE FROM records WHERE kind = ? AND id = ?", (kind, key))

    def children(self, kind: str, parent: str) -> list[Record]:
        """Records of `kind` under `parent`, by `seq` then insertion."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT data FROM records WHERE kind = ? AND parent = ? ORDER BY seq, rowid",
                (kind, parent),
            ).fetchall()
        return [dict(json.loads(r[0])) for r in rows]

    def children_json(self, kind: str, parent: str) -> list[str]:
        """As `children`, but each record as its stored JSON text (parsed by the caller, which
        may cache by that text: the same text is the same record)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT data FROM records WHERE kind = ? AND parent = ? ORDER BY seq, rowid",
                (kind, parent),
            ).fetchall()
        return [str(r[0]) for r in rows]

    def all(self, kind: str) -> list[Record]:
        """Every record of `kind`, by `seq` then insertion."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT data FROM records WHERE kind = ? ORDER BY seq, rowid", (kind,)
            ).fetchall()
        return [dict(json.loads(r[0])) for r in rows]

    def find(self, kind: str, field: str, value: Any) -> Record | None:
        """The first record of `kind` whose JSON `field` equals `value`."""
        with self._lock:
            row = self._conn.execute(
                "SELECT data FROM records WHERE kind = ? AND json_extract(data, ?) = ? "
                "ORDER BY rowid LIMIT 1",
                (kind, f"$.{field}", value),
            ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def get_meta(self, key: str) -> Any:
        """A stored setting (JSON), or None."""
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        """Store a setting (JSON)."""
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value))
            )

    def dump(self) -> list[tuple[str, str, str]]:
        """Every record and setting as `(kind, id, json)`, sorted (to compare states)."""
        with self._lock:
            rows = self._conn.execute("SELECT kind, id, data FROM records").fetchall()
            meta = self._conn.execute("SELECT 'meta', key, value FROM meta").fetchall()
        return sorted((str(a), str(b), str(c)) for a, b, c in [*rows, *meta])

    def clear(self) -> None:
        """Remove every record and setting."""
        with self._lock:
            self._conn.execute("DELETE FROM records")
            self._conn.execute("DELETE FROM meta")
