"""The one source of this library's version: its installed package metadata."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["VERSION"]


def _installed() -> str:
    try:
        return version("shopper-chat")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


VERSION = _installed()
"""`shopper_chat.__version__`, the client's User-Agent and `shopper-chat --version` show it."""
