"""The interactive chat panel for JupyterLab: a view (`ChatPanel`) over a model (`ChatModel`).

```python
from shopper_chat.panel import ChatPanel
panel = ChatPanel(client, order_id)   # no request yet
panel                                 # displayed: polling starts; closing it stops polling
```
"""

from shopper_chat.panel.model import (
    MAX_BODY_CHARS,
    ChatClosedError,
    ChatEntry,
    ChatModel,
    EmptyMessageError,
    MessageTooLongError,
    ModelChange,
    PanelStatus,
    SendInProgressError,
)
from shopper_chat.panel.widget import ChatPanel

__all__ = [
    "ChatClosedError",
    "ChatEntry",
    "ChatModel",
    "ChatPanel",
    "EmptyMessageError",
    "MAX_BODY_CHARS",
    "MessageTooLongError",
    "ModelChange",
    "PanelStatus",
    "SendInProgressError",
]
