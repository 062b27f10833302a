"""What the fuzzing fixture builds: the server, its tokens and the ids of real records."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FuzzWorld:
    """The server and what is in it: tokens and the ids of real records."""

    base_url: str
    client_token: str
    user_token: str
    other_user_token: str
    known: dict[str, list[str]] = field(default_factory=dict)
    """Path parameter name -> real values."""
    chat_order: str = ""
    spare_order: str = ""

    def pick(self, key: Any, choices: int) -> int:
        """A stable choice from `key` (the same case always gets the same answer)."""
        return zlib.crc32(repr(key).encode()) % choices
