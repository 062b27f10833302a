"""The Connect contract, typed: every body, enum, limit, pattern and error message, defined once.

Neither the client nor the development server owns it; both import it. The server validates
requests and serializes answers through these models and generates its OpenAPI document from
them; the client parses answers into the same models and checks its input with the same types.
The event callbacks (Instacart calls the retailer) are here too: the server sends them, the
library's receiver (`shopper_chat.listen`) reads them.

A correction to the contract (a field a real server names otherwise, a limit that differs) is one
edit here.
"""

from shopper_chat.contract import _bodies, _events, _problems, _rules
from shopper_chat.contract._bodies import *  # noqa: F403
from shopper_chat.contract._events import *  # noqa: F403
from shopper_chat.contract._problems import *  # noqa: F403
from shopper_chat.contract._rules import *  # noqa: F403

__all__ = sorted([*_bodies.__all__, *_events.__all__, *_problems.__all__, *_rules.__all__])
