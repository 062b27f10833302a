"""The public surface: everything in `__all__` exists, and nothing public is left out of it."""

from __future__ import annotations

import ast
import importlib
import inspect

import pytest

MODULES = [
    "shopper_chat",
    "shopper_chat.client",
    "shopper_chat.errors",
    "shopper_chat.client.errors",
    "shopper_chat.client.poller",
    "shopper_chat.client.recording",
    "shopper_chat.check",
    "shopper_chat.listen",
    "shopper_chat.transcripts",
    "shopper_chat.tutorial",
]

PUBLIC_PACKAGES = [
    "shopper_chat",
    "shopper_chat.client",
    "shopper_chat.contract",
    "shopper_chat.devserver",
    "shopper_chat.panel",
    "shopper_chat.errors",
    "shopper_chat.transcripts",
]


def _public_names(module_name: str) -> set[str]:
    """The public names a module defines, or (a package's `__init__`) re-exports from this library.

    Read from the source, at the module's top level (inside `if`/`try` too): `def`, `class` and
    assignments; `from shopper_chat... import *` (the source's `__all__`); and, in a package,
    `from shopper_chat... import name` / `from . import name`. Imports from elsewhere (the standard
    library, pydantic, ...) are the module's tools, not its surface.
    """
    module = importlib.import_module(module_name)
    is_package = hasattr(module, "__path__")
    tree = ast.parse(inspect.getsource(module))
    names: set[str] = set()

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names.update(t.id for t in targets if isinstance(t, ast.Name))
            elif isinstance(node, ast.ImportFrom):
                source = node.module or ""
                ours = node.level > 0 or source == "shopper_chat" or source.startswith(
                    "shopper_chat.")
                for alias in node.names:
                    if alias.name == "*" and ours:
                        names.update(importlib.import_module(source).__all__)
                    elif is_package and ours:
                        names.add(alias.asname or alias.name)
            elif isinstance(node, ast.If):
                if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
                    visit(node.body)
                    visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)

    visit(tree.body)
    return {n for n in names if not n.startswith("_") or n == "__version__"} - {"__all__"}


@pytest.mark.parametrize("name", PUBLIC_PACKAGES)
def test_all_is_sorted_and_exactly_the_public_names(name: str) -> None:
    exported = list(importlib.import_module(name).__all__)
    assert exported == sorted(exported), "keep __all__ sorted"
    public = _public_names(name)
    assert set(exported) == public, (
        f"missing from __all__: {sorted(public - set(exported))}; "
        f"not public: {sorted(set(exported) - public)}"
    )


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
        "WaitTimeout", "InvalidRequestError", "WorkflowState", "MetadataChanged", "check_message",
    }
    assert promised <= set(shopper_chat.__all__)


def test_public_names_of_the_package_are_all_exported() -> None:
    import shopper_chat

    public = {
        n for n in vars(shopper_chat)
        if not n.startswith("_") and n not in ("client", "contract", "errors", "panel",
                                               "devserver", "cli", "runner", "listen",
                                               "check")
    }
    assert public <= set(shopper_chat.__all__)


def test_the_errors_module_is_the_clients() -> None:
    from shopper_chat import errors
    from shopper_chat.client import errors as client_errors

    assert set(errors.__all__) == set(client_errors.__all__)
    for name in errors.__all__:
        assert getattr(errors, name) is getattr(client_errors, name)


def test_the_version_comes_from_the_package_metadata() -> None:
    from importlib.metadata import version

    import shopper_chat
    from shopper_chat.client._http import USER_AGENT

    assert shopper_chat.__version__ == version("shopper-chat")
    assert USER_AGENT.split("/") == ["shopper-chat", version("shopper-chat")]


def test_the_client_never_imports_the_devserver() -> None:
    import pathlib

    import shopper_chat.client

    folder = pathlib.Path(shopper_chat.client.__file__).parent
    for source in folder.rglob("*.py"):
        assert "devserver" not in source.read_text(encoding="utf-8"), source
