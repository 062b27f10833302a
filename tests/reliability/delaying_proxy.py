"""A loopback HTTP/1.1 proxy that holds chosen requests or answers for a while.

What no fault rule of the server can do alone: a request that reaches the server late, after the
client has given up on it (a queue in a proxy, a slow network), and is then handled as usual.
`decide(method, path)` picks, per request, `Delay("request", s)` (held before it is sent on),
`Delay("answer", s)` (sent on at once, its answer held) or None. The exchange with the server
goes on whether or not the client is still there, as in a proxy that has taken the request.

Only what the tests send is understood: requests and answers with a `Content-Length` body (httpx
and uvicorn both write those), one server connection per exchange.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

__all__ = ["Delay", "DelayingProxy"]


@dataclass(frozen=True)
class Delay:
    """Hold the request (before the server sees it) or the answer, for `seconds`."""

    where: Literal["request", "answer"]
    seconds: float


Decide = Callable[[str, str], Delay | None]


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


async def _read_message(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    return head + await reader.readexactly(_content_length(head))


class DelayingProxy:
    """`with DelayingProxy(upstream_url, decide) as proxy:` ... `proxy.base_url`."""

    def __init__(self, upstream: str, decide: Decide) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._decide = decide
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="delaying-proxy",
                                         daemon=True)  # fmt: skip
        self._server: asyncio.Server | None = None
        self.base_url = ""
        self.delayed: dict[str, int] = {"request": 0, "answer": 0}

    def __enter__(self) -> DelayingProxy:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._client, "127.0.0.1", 0), self._loop)
        self._server = future.result(10)
        port = self._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc_info: object) -> None:
        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    request = await _read_message(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return  # the client closed the connection
                method, target = request.split(b" ", 2)[:2]
                delay = self._decide(method.decode(), target.decode().split("?", 1)[0])
                if delay is not None:
                    self.delayed[delay.where] += 1
                # Awaited here, and not cancelled when the client leaves: the server gets the
                # request even if nobody waits for the answer any more.
                try:
                    answer = await self._exchange(request, delay)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return  # the server dropped it: so does the proxy
                if writer.is_closing():
                    return
                writer.write(answer)
                await writer.drain()
        except ConnectionError:
            return  # the client left while the answer was written
        except asyncio.CancelledError:
            # Stopped while an exchange was held: end quietly (asyncio's stream callback logs a
            # cancelled handler as an error).
            return
        finally:
            writer.close()

    async def _exchange(self, request: bytes, delay: Delay | None) -> bytes:
        if delay is not None and delay.where == "request":
            await asyncio.sleep(delay.seconds)
        reader, writer = await asyncio.open_connection(*self._upstream)
        try:
            writer.write(request)
            await writer.drain()
            answer = await _read_message(reader)
        finally:
            writer.close()
        if delay is not None and delay.where == "answer":
            await asyncio.sleep(delay.seconds)
        return answer
