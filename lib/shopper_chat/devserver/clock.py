"""The server's one clock: real UTC time, or frozen at a moment and moved only on purpose.

The clock is moved only within `EARLIEST`..`LATEST`: far enough from `datetime`'s own limits
(year 9999) that every moment the server derives from now (slots a day ahead, chat expiry,
token expiry, the shopper's delays) can still be computed.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

__all__ = ["Clock", "EARLIEST", "LATEST"]

EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
"""The earliest moment the clock may be set to (Unix time 0: tokens carry Unix seconds)."""
LATEST = datetime(2999, 12, 31, 23, 59, 59, tzinfo=timezone.utc)
"""The latest moment the clock may be set or advanced to."""


_OUTSIDE = (f"the clock stays between {EARLIEST:%Y-%m-%dT%H:%M:%SZ} and "
            f"{LATEST:%Y-%m-%dT%H:%M:%SZ}")


def _check(moment: datetime) -> datetime:
    if not EARLIEST <= moment <= LATEST:
        raise ValueError(_OUTSIDE)
    return moment


class Clock:
    """Real time (optionally shifted) or a frozen moment. Thread-safe.

    A frozen clock moves only through `set()` and `advance()`; it never goes backwards.
    """

    def __init__(self, frozen_at: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._frozen: datetime | None = None if frozen_at is None else _check(frozen_at)
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
            self._frozen = _check(moment)

    def advance(self, seconds: float) -> None:
        """Move time forward by `seconds` (a real clock keeps running, shifted)."""
        if seconds < 0:
            raise ValueError("the clock cannot move backwards")
        with self._lock:
            current = self._frozen or datetime.now(timezone.utc) + self._offset
            if seconds > (LATEST - current).total_seconds():
                raise ValueError(_OUTSIDE)
            if self._frozen is not None:
                self._frozen += timedelta(seconds=seconds)
            else:
                self._offset += timedelta(seconds=seconds)

    def after(self, seconds: float) -> datetime:
        """The moment `seconds` from now, but no later than `LATEST` (so that a long delay on a
        late clock never overflows `datetime`)."""
        now = self.now()
        if seconds >= (LATEST - now).total_seconds():
            return max(now, LATEST)
        return now + timedelta(seconds=seconds)

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
