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
from .scenarios import Scenario, ScenarioError, built_in_scenarios, load_scenario
from .server import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DevServer,
    DevServerConfig,
    create_app,
    serve,
    start,
)
from .shopper import ScriptError, ShopperScript, UnknownScenario, load_script

__all__ = [
    "CallbackConfig",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DevServer",
    "DevServerConfig",
    "RetryPolicy",
    "Scenario",
    "ScenarioError",
    "ScriptError",
    "ShopperScript",
    "UnknownScenario",
    "built_in_scenarios",
    "create_app",
    "load_scenario",
    "load_script",
    "serve",
    "start",
]
