"""The public surface: everything in `__all__` exists, and nothing public is left out of it."""

from __future__ import annotations

import importlib

import pytest

MODULES = [
    "shopper_chat",
    "shopper_chat.client",
    "shopper_chat.errors",
    "shopper_chat.client.errors",
    "shopper_chat.client.poller",
    "shopper_chat.client.recording",
    "shopper_chat.transcripts",
    "shopper_chat.tutorial",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist_and_come_from_the_package(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert len(exported) == len(set(exported)), "a name is listed twice"
    for member in exported:
        value = getattr(module, member)
        owner = getattr(value, "__module__", None)
        if owner is not None and member != "__version__" and not isinstance(value, str):
            assert owner.startswith(("shopper_chat", "typing")), (member, owner)


def test_the_top_level_surface_is_what_the_design_promises() -> None:
    import shopper_chat

    promised = {
        "Client", "connect", "tutorial", "transcripts", "ChatPoller", "NewMessage", "ReadChanged",
        "StateChanged", "PollFailed", "Stopped", "Secret", "ChatMessage", "Conversation",
        "SentMessage", "OrderStatus", "Batch", "Shopper", "User", "Order", "ServiceOption",
        "ServiceOptionHold", "ConnectError", "APIError", "InvalidParameterError",
        "AuthenticationError", "ChatNotAllowedError", "PermissionDeniedError", "NotFoundError",
        "UserNotFoundError", "RateLimitError", "ServerError", "RequestTimeoutError",
        "APIConnectionError", "APITimeoutError", "ResponseShapeError", "ConfigurationError",
        "WaitTimeout", "InvalidRequestError", "WorkflowState",
    }
    assert promised <= set(shopper_chat.__all__)


def test_public_names_of_the_package_are_all_exported() -> None:
    import shopper_chat

    public = {
        n for n in vars(shopper_chat)
        if not n.startswith("_") and n not in ("client", "contract", "errors", "panel", "devserver",
                                               "cli", "runner")
    }
    assert public <= set(shopper_chat.__all__)


def test_the_errors_module_is_the_clients() -> None:
    from shopper_chat import errors
    from shopper_chat.client import errors as client_errors

    assert set(errors.__all__) == set(client_errors.__all__)
    for name in errors.__all__:
        assert getattr(errors, name) is getattr(client_errors, name)


def test_the_client_never_imports_the_devserver() -> None:
    import pathlib

    import shopper_chat.client

    folder = pathlib.Path(shopper_chat.client.__file__).parent
    for source in folder.rglob("*.py"):
        assert "devserver" not in source.read_text(encoding="utf-8"), source
