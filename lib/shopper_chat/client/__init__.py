"""The Instacart Connect client: `Client`, its resources, typed results, errors and the poller.

The typed results are the contract's models (`shopper_chat.contract`), re-exported here under
the names the client has always used. Everything public is re-exported by `shopper_chat`; import
from there.
"""

from shopper_chat.client._client import Client
from shopper_chat.client._validate import check_message
from shopper_chat.client.poller import (
    ChatPoller,
    MetadataChanged,
    NewMessage,
    PollEvent,
    PollFailed,
    ReadChanged,
    StateChanged,
    Stopped,
)
from shopper_chat.contract import (
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
)
from shopper_chat.contract import MAX_MESSAGE_LENGTH as MAX_BODY_CHARS
from shopper_chat.contract import OrderWorkflowState as WorkflowState

__all__ = [
    "AccessToken",
    "BATCH_WORKFLOW_STATES",
    "Batch",
    "ChatMessage",
    "ChatMetadata",
    "ChatPoller",
    "Client",
    "Conversation",
    "Customer",
    "MAX_BODY_CHARS",
    "MetadataChanged",
    "NewMessage",
    "ORDER_WORKFLOW_STATES",
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
    "check_message",
]
