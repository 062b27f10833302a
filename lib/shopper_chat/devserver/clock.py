"""The server's one clock: real UTC time, or frozen at a moment and moved only on purpose."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

__all__ = ["Clock"]


class Clock:
    """Real time (optionally shifted) or a frozen moment. Thread-safe.

    A frozen clock moves only through `set()` and `advance()`; it never goes backwards.
    """

    def __init__(self, frozen_at: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._frozen: datetime | None = frozen_at
        self._offset = timedelta(0)

    @property
    def frozen(self) -> bool:
        """True when time stands still between explicit moves."""
        return self._frozen is not None

    def now(self) -> datetime:
        """The current moment, UTC, whole seconds on a frozen clock."""
        with self._lock:
            if self._frozen is not None:
                return self._frozen
            return datetime.now(timezone.utc) + self._offset

    def set(self, moment: datetime) -> None:
        """Freeze the clock at `moment` (not earlier than now)."""
        with self._lock:
            current = self._frozen or datetime.now(timezone.utc) + self._offset
            if moment < current:
                raise ValueError("the clock cannot move backwards")
            self._frozen = moment

    def advance(self, seconds: float) -> None:
        """Move time forward by `seconds` (a real clock keeps running, shifted)."""
        if seconds < 0:
            raise ValueError("the clock cannot move backwards")
        with self._lock:
            if self._frozen is not None:
                self._frozen += timedelta(seconds=seconds)
            else:
                self._offset += timedelta(seconds=seconds)

    def advance_to(self, moment: datetime) -> None:
        """On a frozen clock, jump to `moment` if it is later than now (fast-forward)."""
        with self._lock:
            if self._frozen is not None and moment > self._frozen:
                self._frozen = moment

    def use_real_time(self) -> None:
        """Unfreeze: real UTC time from now on, no shift."""
        with self._lock:
            self._frozen = None
            self._offset = timedelta(0)

    def reset(self, frozen_at: datetime | None) -> None:
        """Back to the configured start (frozen at `frozen_at`, or real time)."""
        with self._lock:
            self._frozen = frozen_at
            self._offset = timedelta(0)
