"""`Secret`: a string that never shows itself.

Credentials and access tokens travel through the library wrapped in `Secret`, so that a `repr`,
an f-string, a log line or a traceback's locals can only ever show `Secret('**********')`.
The value is read with `get_secret_value()`, in the one place that needs it (an HTTP header or
the token request's body).
"""

from __future__ import annotations

import hmac
from typing import NoReturn

__all__ = ["Secret"]

_MASK = "Secret('**********')"


class Secret:
    """A secret string (client secret, access token): `repr`/`str` show `Secret('**********')`.

    Two secrets compare equal when their values do (in constant time); a secret never equals a
    plain `str`, so it cannot be compared to one by accident. Secrets cannot be pickled, so that
    the value does not leak into a cache or a notebook's saved state.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.get_secret_value()
        if not isinstance(value, str):
            raise TypeError(f"a Secret holds a str, got {type(value).__name__}")
        self._value = value

    def get_secret_value(self) -> str:
        """The secret itself. Put it where it is needed, never where it is shown."""
        return self._value

    def __repr__(self) -> str:
        return _MASK

    __str__ = __repr__

    def __format__(self, format_spec: str) -> str:
        return _MASK

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")
