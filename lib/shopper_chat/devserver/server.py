"""Build the app (`create_app`) apart from serving it (`start`, `serve`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shopper_chat import __version__
from shopper_chat._time import parse_time
from shopper_chat._workbench import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

from .callbacks import CallbackConfig, RetryPolicy
from .clock import Clock
from .exceptions import (
    ConnectHTTPError,
    Forbidden,
    MethodNotAllowed,
    ResourceNotFound,
    TooManyRequests,
    Unauthorized,
    UnexpectedError,
    error_response,
)
from .faults import FaultRule
from .models import ConnectBackend
from .responses import ConnectResponses, EmulatorResponses
from .scenarios import Scenario, built_in_scenarios, load_scenario
from .shopper import SCRIPT, SILENT, ShopperScript, UnknownScenario, load_script
from .store import Store
from .urls import DirectRouter, routes

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DevServer",
    "DevServerConfig",
    "create_app",
    "serve",
    "start",
]

logger = logging.getLogger("shopper_chat.devserver")
access_logger = logging.getLogger("shopper_chat.devserver.access")
"""One INFO line per request when `access_log` is on: method, path, status, milliseconds."""


@dataclass
class DevServerConfig:
    """Everything a development server is started with.

    `clock=None` runs on real UTC time; an ISO string (or aware datetime) freezes the clock there.
    `seed=None` draws a random seed. `client_id`/`client_secret` default to `CONNECT_CLIENT_ID` /
    `CONNECT_CLIENT_SECRET`, then to the local defaults. `scenario` is what the scripted shopper
    does on new orders: a scenario's name, or a scenario file (YAML/JSON) added to the built-in
    ones; None: `tutorial`, or the script's own rules when `shopper_script` is given.
    """

    seed: int | None = None
    clock: str | datetime | None = None
    shopper: bool = True
    shopper_script: str | Path | Mapping[str, Any] | ShopperScript | None = None
    db: str | Path | None = None
    host: str = "127.0.0.1"
    port: int = 0
    access_log: bool = False
    reply_delay: float | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    timezone: str = "America/Los_Angeles"
    callbacks: CallbackConfig | None = None
    """Where to send the event callbacks from the start (`PUT /_emulator/callbacks` changes it;
    `shopper-chat serve` reads it from `CONNECT_CALLBACK_*`)."""
    callback_policy: RetryPolicy | None = None
    """The delivery schedule (tests shorten it); None: the documented one."""
    scenario: str | Path | None = None

    def start_time(self) -> datetime | None:
        """The frozen clock's start, or None for real time."""
        if self.clock is None:
            return None
        if isinstance(self.clock, datetime):
            return parse_time(self.clock.isoformat())
        return parse_time(self.clock)

    def script(self) -> ShopperScript:
        """The shopper script to use (raises `ScriptError` naming a bad key)."""
        if isinstance(self.shopper_script, ShopperScript):
            return self.shopper_script
        return load_script(self.shopper_script)

    def scenarios(self) -> tuple[dict[str, Scenario], str]:
        """The scenarios the server knows, and the one new orders follow (raises
        `ScenarioError` naming a bad key, or `UnknownScenario`)."""
        known = built_in_scenarios()
        chosen = self.scenario
        if chosen is None:
            return known, SCRIPT if self.shopper_script is not None else "tutorial"
        text = str(chosen)
        if isinstance(chosen, Path) or text.endswith((".yaml", ".yml", ".json")):
            scenario = load_scenario(text)
            known[scenario.name] = scenario
            return known, scenario.name
        if text not in known and text not in (SCRIPT, SILENT):
            names = ", ".join([*known, SCRIPT, SILENT])
            raise UnknownScenario(f"unknown scenario {text!r} (known: {names}, or a YAML file)")
        return known, text


def _fault_error(rule: FaultRule) -> ConnectHTTPError:
    status = rule.status or 500
    headers = {"Retry-After": str(rule.retry_after)} if rule.retry_after is not None else None
    error: ConnectHTTPError
    if status == 429:
        error = TooManyRequests()
    elif status >= 500:
        error = UnexpectedError(status_code=status)
    elif status == 401:
        error = Unauthorized()
    elif status == 403:
        error = Forbidden()
    elif status == 404:
        error = ResourceNotFound()
    elif status == 408:
        error = ConnectHTTPError("Request timed out", status_code=408)
    else:
        error = ConnectHTTPError("The request failed", status_code=status)
    if headers:
        error.headers = headers
    return error


async def _drop_connection(receive: Receive) -> None:
    """Close the client's connection without any response (uvicorn's transport, aborted)."""
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise UnexpectedError("the connection could not be dropped", status_code=503)
    transport.abort()
    # Wait until uvicorn has seen the disconnect, so that it does not answer in our place.
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def _apply(rule: FaultRule, scope: Scope, receive: Receive, send: Send) -> bool:
    """Wait the rule's latency, then drop the connection or answer its status; True when the
    rule answered (or dropped), False when it only delayed."""
    if rule.latency_ms:
        await asyncio.sleep(rule.latency_ms / 1000)
    if rule.drop:
        await _drop_connection(receive)
        return True
    if rule.status is not None:
        await error_response(_fault_error(rule))(scope, receive, send)
        return True
    return False


class _EmulatorMiddleware:
    """Around each Connect request: fault rules, and first the scripted shopper's due actions.

    A rule `when="before"` acts instead of the handler (nothing is stored). A rule
    `when="after"` lets the handler run and commit, holds its answer, then acts: the answer is
    delayed, lost with the connection, or replaced by the rule's status.
    """

    def __init__(self, app: ASGIApp, backend: ConnectBackend) -> None:
        self.app = app
        self.backend = backend

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_emulator/"):
            await self.app(scope, receive, send)
            return
        rule = self.backend.faults.pick(scope["method"], scope["path"])
        if rule is not None and rule.when == "before" and await _apply(rule, scope, receive,
                                                                       send):  # fmt: skip
            return
        self.backend.run_due_actions()
        if rule is None or rule.when == "before":
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        await self.app(scope, receive, hold)  # the operation has committed when this returns
        if not await _apply(rule, scope, receive, send):
            for message in held:  # a client that gave up meanwhile: uvicorn drops these
                await send(message)


class _AccessLog:
    """One line per request: method, path (never the query string, which may hold credentials),
    status and milliseconds. Never a header, so never a token, and never a body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = "dropped"  # no answer started: a fault rule dropped the connection

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = str(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, observe)
        except Exception:
            status = "500"  # answered by Starlette's outermost error handler
            raise
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            # The raw path: as sent, so that an encoded line break cannot split the line.
            raw = scope.get("raw_path")
            path = raw.decode("latin-1") if isinstance(raw, bytes) else repr(scope["path"])
            access_logger.info("%s %s %s %.1f ms", scope["method"], path, status, elapsed)


async def _connect_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ConnectHTTPError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        allow = (exc.headers or {}).get("Allow", "")
        return error_response(MethodNotAllowed(headers={"Allow": allow} if allow else None))
    if exc.status_code == 404:
        return error_response(ResourceNotFound())
    return error_response(ConnectHTTPError(exc.detail, status_code=exc.status_code))


async def _client_gone(request: Request, exc: Exception) -> Response:
    # The client hung up before its request was read (e.g. it timed out during added latency):
    # nothing was done and nobody is left to answer, so this is not an error of the server.
    return Response(status_code=499)


async def _unexpected(request: Request, exc: Exception) -> Response:
    logger.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(UnexpectedError())


def create_app(config: DevServerConfig | None = None, **kwargs: Any) -> Starlette:
    """The development server as an ASGI app (`app.state.backend` holds its state)."""
    if config is None:
        config = DevServerConfig(**kwargs)
    elif kwargs:
        raise TypeError("give a DevServerConfig or keyword arguments, not both")
    script = config.script()
    scenarios, scenario = config.scenarios()
    seed = config.seed if config.seed is not None else secrets.randbelow(2**31)
    start_time = config.start_time()
    store = Store(str(config.db) if config.db is not None else None)
    backend = ConnectBackend(
        store=store,
        clock=Clock(start_time),
        seed=seed,
        start=start_time,
        script=script,
        shopper_enabled=config.shopper,
        reply_delay=config.reply_delay,
        client_id=config.client_id or os.environ.get("CONNECT_CLIENT_ID") or DEFAULT_CLIENT_ID,
        client_secret=config.client_secret
        or os.environ.get("CONNECT_CLIENT_SECRET")
        or DEFAULT_CLIENT_SECRET,
        timezone_name=config.timezone,
        info={"version": __version__, "db": "file" if config.db is not None else "memory"},
        callbacks=config.callbacks,
        callback_policy=config.callback_policy,
        scenarios=scenarios,
        scenario=scenario,
    )
    # Imported here, not at the top: `python -m shopper_chat.devserver.openapi` imports this
    # package first, and the module must not be loaded twice.
    from .openapi import openapi_document, render

    document = render(openapi_document()).encode()

    async def openapi(request: Request) -> Response:
        return Response(document, media_type="application/json")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(_shopper_loop(backend))
        backend.callbacks.start()
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            # In a thread, and not for long: a worker still waiting on a receiver finishes on its
            # own (it writes nothing more; what was pending stays in the store).
            await asyncio.to_thread(backend.callbacks.stop, 2.0)

    from starlette.middleware import Middleware
    from starlette.routing import Route

    app = Starlette(
        routes=[
            Route("/openapi.json", openapi, methods=["GET"]),
            *routes(ConnectResponses(backend), EmulatorResponses(backend)),
        ],
        middleware=[
            *([Middleware(_AccessLog)] if config.access_log else []),
            Middleware(_EmulatorMiddleware, backend=backend),
        ],
        exception_handlers={
            ConnectHTTPError: _connect_error,
            HTTPException: _http_error,
            ClientDisconnect: _client_gone,
            Exception: _unexpected,
        },
        lifespan=lifespan,
    )
    # The same routes, found by a dict lookup rather than Starlette's scan of every pattern.
    app.router = DirectRouter(app.router.routes, lifespan=lifespan)
    app.state.backend = backend
    app.state.config = config
    return app


async def _shopper_loop(backend: ConnectBackend) -> None:
    """On a real clock, run the scripted shopper's actions when they are due."""
    while True:
        delay = 0.25
        try:
            if not backend.clock.frozen:
                backend.run_due_actions()
                due = backend.next_due()
                if due is not None:
                    delay = min(delay, max(0.01, due - backend.now().timestamp()))
        except Exception:  # pragma: no cover - logged, and the loop keeps going
            logger.exception("the scripted shopper failed")
        await asyncio.sleep(delay)


class DevServer:
    """A development server running in a background thread on loopback."""

    def __init__(self, config: DevServerConfig) -> None:
        self.config = config
        self.app = create_app(config)
        self.backend: ConnectBackend = self.app.state.backend
        family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that name it, and
        # without it every response waits ~40 ms for a delayed ACK.
        self._socket = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._socket.bind((config.host, config.port))
            self._socket.listen(128)
        except OSError:
            self._socket.close()
            self.backend.store.close()
            raise
        port = self._socket.getsockname()[1]
        host = f"[{config.host}]" if ":" in config.host else config.host
        self.base_url = f"http://{host}:{port}"
        self.port = port
        self.backend.base_url = self.base_url
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                log_config=None,
                log_level="warning",
                access_log=False,
                lifespan="on",
                timeout_graceful_shutdown=2,
            )
        )
        self._thread: threading.Thread | None = None

    @property
    def client_id(self) -> str:
        """The client id the server accepts."""
        return self.backend.client_id

    def start(self) -> DevServer:
        """Start serving; returns once the server accepts connections."""
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name="shopper-chat-devserver",
            daemon=True,
        )
        self._thread.start()
        for _ in range(1000):
            if self._server.started:
                return self
            if not self._thread.is_alive():
                break
            self._thread.join(0.01)
        self.stop()
        raise RuntimeError("the development server did not start")

    def stop(self) -> None:
        """Stop serving and release the port and the database."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(15)
            self._thread = None
        self._socket.close()
        self.backend.store.close()

    def __enter__(self) -> DevServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start(config: DevServerConfig | None = None, **kwargs: Any) -> DevServer:
    """Start a development server in a background thread: `server.base_url`, `server.stop()`."""
    if config is None:
        config = DevServerConfig(**kwargs)
    elif kwargs:
        raise TypeError("give a DevServerConfig or keyword arguments, not both")
    return DevServer(config).start()


@contextlib.contextmanager
def serve(config: DevServerConfig | None = None, **kwargs: Any) -> Iterator[str]:
    """Run a development server for the `with` block; yields its base URL."""
    server = start(config, **kwargs)
    try:
        yield server.base_url
    finally:
        server.stop()
