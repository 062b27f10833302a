"""The Instacart Connect client: `Client`, its resources, typed results, errors and the poller.

Everything public is re-exported by `shopper_chat`; import from there.
"""

from shopper_chat.client._client import Client
from shopper_chat.client._models import (
    BATCH_WORKFLOW_STATES,
    ORDER_WORKFLOW_STATES,
    AccessToken,
    Batch,
    ChatMessage,
    ChatMetadata,
    Conversation,
    Customer,
    Order,
    OrderStatus,
    ParticipantType,
    SentMessage,
    ServiceOption,
    ServiceOptionHold,
    Shopper,
    ShopperProfile,
    User,
    WorkflowState,
)
from shopper_chat.client._validate import MAX_BODY_CHARS
from shopper_chat.client.poller import (
    ChatPoller,
    NewMessage,
    PollEvent,
    PollFailed,
    ReadChanged,
    StateChanged,
    Stopped,
)

__all__ = [
    "BATCH_WORKFLOW_STATES",
    "MAX_BODY_CHARS",
    "ORDER_WORKFLOW_STATES",
    "AccessToken",
    "Batch",
    "ChatMessage",
    "ChatMetadata",
    "ChatPoller",
    "Client",
    "Conversation",
    "Customer",
    "NewMessage",
    "Order",
    "OrderStatus",
    "ParticipantType",
    "PollEvent",
    "PollFailed",
    "ReadChanged",
    "SentMessage",
    "ServiceOption",
    "ServiceOptionHold",
    "Shopper",
    "ShopperProfile",
    "StateChanged",
    "Stopped",
    "User",
    "WorkflowState",
]
