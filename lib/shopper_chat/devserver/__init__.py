"""The development server: a stateful local stand-in for Instacart Connect that also plays the
shopper.

```python
from shopper_chat.devserver import serve
with serve(seed=7, clock="2026-01-15T17:00:00Z") as base_url:
    ...
```
"""

from __future__ import annotations

from .callbacks import CallbackConfig, RetryPolicy
from .server import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DevServer,
    DevServerConfig,
    create_app,
    serve,
    start,
)
from .shopper import ScriptError, ShopperScript, load_script

__all__ = [
    "CallbackConfig",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DevServer",
    "DevServerConfig",
    "RetryPolicy",
    "ScriptError",
    "ShopperScript",
    "create_app",
    "load_script",
    "serve",
    "start",
]
