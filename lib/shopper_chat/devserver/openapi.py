"""The server's own OpenAPI document (filled in below)."""

from __future__ import annotations

from typing import Any

__all__ = ["openapi_document"]


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the Connect routes (control plane under the `emulator` tag)."""
    return {"openapi": "3.1.0", "info": {"title": "shopper-chat development server",
                                         "version": "0.1.0"}, "paths": {}}  # fmt: skip
