"""The one place timestamps are read and written.

The API writes a moment as ISO 8601 UTC with a `Z`, to the second (the tutorial's
`2021-07-09T17:24:12Z`). Reading is lenient about what a real server may send instead: an
offset, a fraction of any length, a lower-case `z`; a moment without a zone is taken as UTC.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

__all__ = ["format_time", "parse_time"]

_FRACTION = re.compile(r"\.(\d+)")


def parse_time(value: str) -> datetime:
    """An ISO 8601 moment as an aware UTC datetime; `ValueError` when it is not one."""
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO 8601 string, got {type(value).__name__}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Python 3.10's parser takes 3 or 6 fraction digits only: pad or cut to 6.
    text = _FRACTION.sub(lambda m: "." + (m.group(1) + "000000")[:6], text)
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def format_time(moment: datetime, *, milliseconds: bool = False) -> str:
    """The API's form of a moment: `2021-07-09T17:24:12Z` (UTC, to the second); with
    `milliseconds`, `2021-07-09T17:24:12.345Z` (for recordings and logs)."""
    moment = moment.astimezone(timezone.utc)
    if milliseconds:
        return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
