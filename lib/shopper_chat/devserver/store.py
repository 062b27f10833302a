"""SQLite storage behind the backend: typed records kept as JSON text, and a small key-value table.

One connection, guarded by a lock: the HTTP handlers and the scripted shopper's background task
share it. `transaction()` commits on success and rolls back on any exception, so that a refused
request changes nothing. `version` counts the writes, so that a reader can tell that nothing
changed since it last looked: between two writes, a read asked again is answered from memory
(`kept`), and a table of records that cannot change (frozen models) parses each record once.

A new record is inserted (`insert`: a key that exists already is an error, never an overwrite)
and a changed one updated (`update`); a file database is held by one process at a time (an OS
lock on `<file>.lock`, released when the store closes or the process dies, even by `kill -9`).
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, Generic, TypeVar, cast

from pydantic import BaseModel, ConfigDict

__all__ = ["FORMAT", "DatabaseInUse", "DuplicateRecord", "MissingRecord", "Record", "Store",
           "Table"]

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
CREATE INDEX IF NOT EXISTS records_unread
    ON records (kind, parent, json_extract(data, '$.sender_type'), seq)
    WHERE json_extract(data, '$.read') = 0;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

# The index's expressions, word for word: SQLite uses a partial index only then.
_UNREAD = ("SELECT data FROM records WHERE kind = ? AND parent = ? "
           "AND json_extract(data, '$.sender_type') = ? "
           "AND json_extract(data, '$.read') = 0 ORDER BY seq, rowid")

FORMAT = 2
"""The records' format: typed records (1 was plain dictionaries, with Unix-second times)."""


class DatabaseInUse(RuntimeError):
    """The database file is held by another server (another process, or another store here)."""


class DuplicateRecord(RuntimeError):
    """A new record's key is taken: inserting it would have replaced another record."""


class MissingRecord(RuntimeError):
    """An update of a record that is not stored."""


def _lock_file(path: str) -> int:
    """Hold `<path>.lock` exclusively (a descriptor to close to let go), or `DatabaseInUse`.

    A lock file beside the database rather than a lock on the database itself: SQLite's own
    POSIX locks on the database would clash with `flock` on the BSDs (macOS). The file is never
    removed (removing it would let a third process lock a new file while the second still holds
    the old one); only the OS lock counts, and the OS releases it with the last descriptor.
    """
    lock_path = path + ".lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if sys.platform == "win32":
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise DatabaseInUse(f"the database {path} is in use by another shopper-chat server "
                            f"(it holds {lock_path}): stop that server or give another "
                            "--db file") from None
    return fd


class Record(BaseModel):
    """A stored record: its table, its key, and optionally a parent and an order among siblings."""

    model_config = ConfigDict(extra="ignore")

    table: ClassVar[str]

    def key(self) -> str:
        """The record's id in its table."""
        raise NotImplementedError

    def parent(self) -> str | None:
        """The record this one belongs to (for `Table.children`), if any."""
        return None

    def seq(self) -> float:
        """The order among the parent's children."""
        return 0.0


R = TypeVar("R", bound=Record)
T = TypeVar("T")


class Store:
    """Records of several kinds (`user`, `order`, `message`, ...) in one SQLite database."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self.version = 0
        self._kept: dict[Hashable, Any] = {}
        self._kept_version = -1
        self._lock = threading.RLock()
        self._depth = 0
        # Two servers on one file would each draw ids from their own sequence and overwrite
        # each other's records: the second one is refused before it opens the database.
        self._lock_fd = _lock_file(os.path.abspath(path)) if path else None
        try:
            self._conn = sqlite3.connect(
                path or ":memory:", check_same_thread=False, isolation_level=None
            )
        except BaseException:
            self._unlock()
            raise
        try:
            if path:
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.executescript(_SCHEMA)
            if self.get_meta("format") != FORMAT:
                if self._conn.execute("SELECT 1 FROM records LIMIT 1").fetchone() is not None:
                    raise ValueError(f"{path} holds records of an earlier shopper-chat, which "
                                     "this version cannot read: remove it or give another --db "
                                     "file")
                self.set_meta("format", FORMAT)
        except BaseException:
            self.close()
            raise

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the last descriptor releases the OS lock
            self._lock_fd = None

    def close(self) -> None:
        """Close the database and let another server have it."""
        with self._lock:
            self._conn.close()
            self._unlock()

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
                    self.version += 1
                raise
            self._depth -= 1
            if outer:
                self._conn.execute("COMMIT")

    def _write(self, sql: str, *args: Any) -> int:
        with self._lock:
            rows = self._conn.execute(sql, args).rowcount
            self.version += 1
            return rows

    def insert(self, kind: str, key: str, text: str, parent: str | None = None,
               seq: float = 0) -> None:  # fmt: skip
        """Store a new record's JSON text; `DuplicateRecord` when the key is taken (a new
        record never replaces another)."""
        try:
            self._write("INSERT INTO records (kind, id, parent, seq, data) VALUES (?,?,?,?,?)",
                        kind, key, parent, seq, text)  # fmt: skip
        except sqlite3.IntegrityError:
            raise DuplicateRecord(f"{kind} {key} exists already") from None

    def update(self, kind: str, key: str, text: str, parent: str | None = None,
               seq: float = 0) -> None:  # fmt: skip
        """Replace a stored record's JSON text; `MissingRecord` when there is none."""
        if not self._write("UPDATE records SET parent = ?, seq = ?, data = ? "
                           "WHERE kind = ? AND id = ?", parent, seq, text, kind, key):  # fmt: skip
            raise MissingRecord(f"{kind} {key} is not stored")

    def put(self, kind: str, key: str, text: str, parent: str | None = None,
            seq: float = 0) -> None:  # fmt: skip
        """Insert a record, or update the one stored under its key (in place: it keeps its
        position among records of equal `seq`). For records written whole whatever is there;
        a new record whose key must be free uses `insert`."""
        self._write("INSERT INTO records (kind, id, parent, seq, data) VALUES (?,?,?,?,?) "
                    "ON CONFLICT (kind, id) DO UPDATE SET parent = excluded.parent, "
                    "seq = excluded.seq, data = excluded.data",
                    kind, key, parent, seq, text)  # fmt: skip

    def get(self, kind: str, key: str) -> str | None:
        """One record's JSON text, or None."""
        with self._lock:
            row = self._conn.execute(
                "SELECT data FROM records WHERE kind = ? AND id = ?", (kind, key)
            ).fetchone()
        return None if row is None else str(row[0])

    def delete(self, kind: str, key: str) -> None:
        """Remove a record (no error when it is absent)."""
        self._write("DELETE FROM records WHERE kind = ? AND id = ?", kind, key)

    def kept(self, key: Hashable, read: Callable[[], T]) -> T:
        """What `read()` answers, read once per version: until the next write, the same object
        answers every reader that asks with the same `key` (so no caller may change it). None is
        not kept (a key that is not stored is looked up again).

        Pollers read the same conversation, and every request the scripted shopper's schedule
        and its token, again and again between writes. Memory only: the database stays the
        truth, and a restarted server reads it again.
        """
        with self._lock:  # a write meanwhile would leave an older answer kept as the newer one
            if self._kept_version != self.version:
                self._kept.clear()
                self._kept_version = self.version
            value = self._kept.get(key)
            if value is None:
                value = read()
                if value is not None:
                    self._kept[key] = value
            return cast(T, value)

    def children(self, kind: str, parent: str) -> list[str]:
        """The JSON texts of the records of `kind` under `parent`, by `seq` then insertion (kept
        until the next write: not to be changed by the caller)."""
        return self.kept(("texts", kind, parent), lambda: [text for (text,) in self._conn.execute(
            "SELECT data FROM records WHERE kind = ? AND parent = ? ORDER BY seq, rowid",
            (kind, parent))])  # fmt: skip

    def unread_children(self, kind: str, parent: str, sender_type: str) -> list[str]:
        """The JSON texts of the records of `kind` under `parent` whose `read` is false and whose
        `sender_type` is the one given, in their order (chat messages not yet read).

        A partial index holds only the unread records, by sender (SQLite updates it in the same
        transaction as the rows, and builds it when it opens a database that lacks it), so that
        marking a conversation read reads its few unread rows of one side, not all of them.
        """
        with self._lock:
            rows = self._conn.execute(_UNREAD, (kind, parent, sender_type)).fetchall()
        return [text for (text,) in rows]

    def max_id(self, kind: str) -> int:
        """The largest integer key of `kind` (0 when there is none)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT MAX(CAST(id AS INTEGER)) FROM records WHERE kind = ?", (kind,)
            ).fetchone()
        return int(row[0] or 0)

    def find(self, kind: str, field: str, value: Any) -> str | None:
        """The first record of `kind` whose JSON `field` equals `value`."""
        with self._lock:
            row = self._conn.execute(
                "SELECT data FROM records WHERE kind = ? AND json_extract(data, ?) = ? "
                "ORDER BY rowid LIMIT 1",
                (kind, f"$.{field}", value),
            ).fetchone()
        return None if row is None else str(row[0])

    def get_meta(self, key: str) -> Any:
        """A stored setting (JSON), or None."""
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        """Store a setting (JSON)."""
        self._write("INSERT INTO meta (key, value) VALUES (?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value", key,
                    json.dumps(value))

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
            self.version += 1
            self.set_meta("format", FORMAT)

    def table(self, record: type[R]) -> Table[R]:
        """The records of one type, read and written as typed objects."""
        return Table(self, record)


class Table(Generic[R]):
    """One record type's rows: the backend reads and writes typed records, never JSON.

    A record type that cannot change once made (a frozen model: tokens, the scripted shopper's
    actions) is parsed once per version of the store: `get` and `children` answer the same
    objects until the next write, so that a request that writes nothing parses nothing.
    """

    def __init__(self, store: Store, record: type[R]) -> None:
        self.store = store
        self.record = record
        self.kind = record.table
        self._shared = bool(record.model_config.get("frozen"))

    def get(self, key: str | int) -> R | None:
        """The record with this key, or None."""
        key = str(key)
        if self._shared:
            return self.store.kept(("get", self.kind, key), lambda: self._get(key))
        return self._get(key)

    def _get(self, key: str) -> R | None:
        text = self.store.get(self.kind, key)
        return None if text is None else self.parse(text)

    def exists(self, key: str | int) -> bool:
        """True when a record has this key."""
        return self.store.get(self.kind, str(key)) is not None

    def find(self, field: str, value: Any) -> R | None:
        """The first record whose `field` equals `value`."""
        text = self.store.find(self.kind, field, value)
        return None if text is None else self.parse(text)

    def children(self, parent: str) -> list[R]:
        """The records under `parent`, in their order (of a frozen type: the same list until the
        next write, not to be changed by the caller)."""
        if self._shared:
            return self.store.kept(("children", self.kind, parent), lambda: self._children(parent))
        return self._children(parent)

    def _children(self, parent: str) -> list[R]:
        return [self.parse(t) for t in self.store.children(self.kind, parent)]

    def unread(self, parent: str, sender_type: str) -> list[R]:
        """The records under `parent` from `sender_type` not yet read (see
        `Store.unread_children`)."""
        return [self.parse(t) for t in self.store.unread_children(self.kind, parent,
                                                                  sender_type)]  # fmt: skip

    def revisions(self, parent: str) -> list[str]:
        """The records under `parent` as stored (`parse` reads one). A record's stored text
        changes whenever the record does, so it names the record's revision."""
        return self.store.children(self.kind, parent)

    def parse(self, revision: str) -> R:
        """A record from its stored text."""
        return self.record.model_validate_json(revision)

    def insert(self, record: R) -> None:
        """Store a new record (`DuplicateRecord` if its key is taken)."""
        self.store.insert(self.kind, record.key(), record.model_dump_json(), record.parent(),
                          record.seq())  # fmt: skip

    def update(self, record: R) -> None:
        """Store a changed record (`MissingRecord` if it is not stored)."""
        self.store.update(self.kind, record.key(), record.model_dump_json(), record.parent(),
                          record.seq())  # fmt: skip

    def put(self, record: R) -> None:
        """Insert, or update the record stored under the same key (see `Store.put`)."""
        self.store.put(self.kind, record.key(), record.model_dump_json(), record.parent(),
                       record.seq())  # fmt: skip

    def max_id(self) -> int:
        """The largest integer key (0 when there is none)."""
        return self.store.max_id(self.kind)

    def delete(self, record: R) -> None:
        """Remove."""
        self.store.delete(self.kind, record.key())
