"""One class per API surface, each hung on the client (`client.chat`, `client.sandbox`, ...)."""

from shopper_chat.client.resources.chat import Chat
from shopper_chat.client.resources.emulator import Emulator
from shopper_chat.client.resources.fulfillment import Fulfillment
from shopper_chat.client.resources.orders import Orders
from shopper_chat.client.resources.sandbox import Sandbox

__all__ = ["Chat", "Emulator", "Fulfillment", "Orders", "Sandbox"]
