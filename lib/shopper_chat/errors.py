"""The client's errors (`shopper_chat.client.errors`), importable as `shopper_chat.errors`.

The tree and the mapping from the API's `code` and HTTP status are documented in
`shopper_chat.client.errors`.
"""

from shopper_chat.client import errors as _errors
from shopper_chat.client.errors import *  # noqa: F403  (the same names, one list: theirs)

__all__ = list(_errors.__all__)
