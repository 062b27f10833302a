"""shopper_chat: a workbench for the Instacart Connect shopper-customer chat tutorial.

```python
from shopper_chat import connect, tutorial
with connect() as client:                         # CONNECT_BASE_URL, else an embedded server
    setup = tutorial.create_order(client)
    tutorial.start_shopping(client, setup.order_id, setup.user_id)
    client.set_user(setup.user_id)
    greeting = client.chat.wait_for_messages(setup.order_id)
```
"""

from shopper_chat import transcripts, tutorial
from shopper_chat._secret import Secret
from shopper_chat._workbench import connect
from shopper_chat.client import (
    BATCH_WORKFLOW_STATES,
    MAX_BODY_CHARS,
    ORDER_WORKFLOW_STATES,
    AccessToken,
    Batch,
    ChatMessage,
    ChatMetadata,
    ChatPoller,
    Client,
    Conversation,
    Customer,
    NewMessage,
    Order,
    OrderStatus,
    ParticipantType,
    PollEvent,
    PollFailed,
    ReadChanged,
    SentMessage,
    ServiceOption,
    ServiceOptionHold,
    Shopper,
    ShopperProfile,
    StateChanged,
    Stopped,
    User,
    WorkflowState,
)
from shopper_chat.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    ChatNotAllowedError,
    ConfigurationError,
    ConnectError,
    InvalidParameterError,
    InvalidRequestError,
    InvalidTypeError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeoutError,
    ResponseShapeError,
    ServerError,
    UserNotFoundError,
    WaitTimeout,
)

__version__ = "0.1.0"

__all__ = [
    "BATCH_WORKFLOW_STATES",
    "MAX_BODY_CHARS",
    "ORDER_WORKFLOW_STATES",
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AccessToken",
    "AuthenticationError",
    "Batch",
    "ChatMessage",
    "ChatMetadata",
    "ChatNotAllowedError",
    "ChatPoller",
    "Client",
    "ConfigurationError",
    "ConnectError",
    "Conversation",
    "Customer",
    "InvalidParameterError",
    "InvalidRequestError",
    "InvalidTypeError",
    "NewMessage",
    "NotFoundError",
    "Order",
    "OrderStatus",
    "ParticipantType",
    "PermissionDeniedError",
    "PollEvent",
    "PollFailed",
    "RateLimitError",
    "ReadChanged",
    "RequestTimeoutError",
    "ResponseShapeError",
    "Secret",
    "SentMessage",
    "ServerError",
    "ServiceOption",
    "ServiceOptionHold",
    "Shopper",
    "ShopperProfile",
    "StateChanged",
    "Stopped",
    "User",
    "UserNotFoundError",
    "WaitTimeout",
    "WorkflowState",
    "__version__",
    "connect",
    "transcripts",
    "tutorial",
]
