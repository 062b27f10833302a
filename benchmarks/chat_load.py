"""Benchmark 1: the development server's chat GET (a 100-message conversation) under 1, 50, 200
and 500 concurrent pollers, beside the stack's own ceiling and a trivial route of the server.

    .venv/bin/python benchmarks/chat_load.py [--duration 5] [--pollers 1 50 200 500]
        [--modes saturate interval] [--rounds 3]

The ceiling is a minimal Starlette app (one route, no middleware) on uvicorn with the development
server's settings, in its own process, answering the very bytes of the chat GET; the trivial
route is the development server's own `/_emulator/health`. When `npx` is present, Prism
(`@stoplight/prism-cli`, installed with npm under `benchmarks/node_modules` on first use, which
is git-ignored) serves the committed `openapi.json` as a peer, stateless: it answers the chat GET
with the document's example (one message); when `npx` is absent the script says so and goes on.
Each case is measured `--rounds` times, the chat GET and the ceiling in turn first; the ratios are
printed per round with their median, since one 5 s case on a shared 2-CPU machine moves by tens
of percent.

The server is `shopper-chat serve` in its own process; the load comes from another process: an
asyncio driver with one keep-alive connection per poller, writing ready-made HTTP/1.1 requests
and reading the answers with a minimal parser (much cheaper than a full HTTP client, so that the
driver is not the bottleneck on a 2-CPU machine; its own CPU time is printed beside the server's).

Two ways to poll, each for the chat GET and the trivial route:
- saturate: every poller sends its next request as soon as the answer arrives (the throughput
  ceiling; latency then is mostly queueing);
- interval: every poller polls once a second, the panel's default interval (the offered load is
  the number of pollers per second; latency is what a poller sees).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from typing import Any

ORDER, USER, MESSAGES = "load-order", "load-customer", 100


# -- the driver (runs in its own process) ---------------------------------------------------------
async def _poller(host: str, port: int, request: bytes, stop_at: float, start_at: float,
                  interval: float, latencies: list[float], errors: list[str]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    next_at = time.monotonic()
    try:
        while True:
            now = time.monotonic()
            if now >= stop_at:
                return
            if interval and now < next_at:
                await asyncio.sleep(next_at - now)
                if time.monotonic() >= stop_at:
                    return
            next_at += interval
            began = time.monotonic()
            try:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
                errors.append(type(exc).__name__)
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            ended = time.monotonic()
            if began >= start_at:
                latencies.append(ended - began)
                if status != 200:
                    errors.append(str(status))
    finally:
        writer.close()


async def _drive(options: argparse.Namespace) -> dict[str, Any]:
    host, port = options.host, options.port
    headers = f"Host: {host}:{port}\r\nAccept: application/json\r\n"
    token = os.environ.get("BENCH_TOKEN", "")
    if token:  # from the environment, so that it is on no command line
        headers += f"Authorization: Bearer {token}\r\n"
    request = f"GET {options.path} HTTP/1.1\r\n{headers}\r\n".encode()
    latencies: list[float] = []
    errors: list[str] = []
    now = time.monotonic()
    start_at = now + options.warmup
    stop_at = start_at + options.duration
    cpu_before = time.process_time()
    tasks = []
    for _ in range(options.pollers):
        tasks.append(asyncio.create_task(_poller(host, port, request, stop_at, start_at,
                                                 options.interval, latencies, errors)))
        if options.interval:  # spread the pollers over the interval, as real ones would be
            await asyncio.sleep(options.interval / options.pollers)
    await asyncio.gather(*tasks, return_exceptions=False)
    return {"latencies": latencies, "errors": errors, "duration": options.duration,
            "driver_cpu": time.process_time() - cpu_before}


def drive_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    for name in ("--host", "--path"):
        parser.add_argument(name, default="")
    parser.add_argument("--port", type=int)
    parser.add_argument("--pollers", type=int)
    parser.add_argument("--duration", type=float)
    parser.add_argument("--warmup", type=float)
    parser.add_argument("--interval", type=float)
    options = parser.parse_args(argv)
    print(json.dumps(asyncio.run(_drive(options))))


# -- the ceiling (runs in its own process) --------------------------------------------------------
def ceiling_main(argv: list[str]) -> None:
    """A minimal Starlette app answering `GET /` with a file's bytes as JSON, on uvicorn with the
    development server's settings (`DevServer`), until terminated."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    port, body_file = int(argv[0]), argv[1]
    with open(body_file, "rb") as f:
        body = f.read()

    async def answer(request: Request) -> Response:
        return Response(body, media_type="application/json")

    app = Starlette(routes=[Route("/", answer, methods=["GET"])])
    uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                                  log_level="warning", access_log=False, lifespan="on",
                                  timeout_graceful_shutdown=2)).run()


def _ceiling(body: bytes) -> Any:
    """Start the ceiling app in its own process: a context manager yielding (base URL, pid)."""
    import contextlib
    import tempfile

    import httpx
    from _common import free_port, running

    @contextlib.contextmanager
    def run() -> Any:
        with tempfile.NamedTemporaryFile(suffix=".json") as f:
            f.write(body)
            f.flush()
            port = free_port()
            with running([sys.executable, __file__, "--ceiling", str(port), f.name], port,
                         lambda url: httpx.get(url + "/", timeout=1).content == body,
                         "the ceiling app", timeout=30) as started:
                yield started

    return run()


def _prism() -> Any:
    """Prism mocking `openapi.json` in its own process: yields (base URL, pid), or None when
    `npx` is not installed (said on the output)."""
    import contextlib
    import shutil

    import httpx
    from _common import ROOT, free_port, running

    @contextlib.contextmanager
    def run() -> Any:
        if shutil.which("npx") is None:
            print("Prism: npx is not installed here, so Prism is not measured\n")
            yield None
            return
        here = ROOT / "benchmarks"
        prism = here / "node_modules" / ".bin" / "prism"
        if not prism.exists():
            subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(here),
                            "@stoplight/prism-cli"], check=True, capture_output=True)
        port = free_port()
        # The Node process itself (not npx), so that its CPU time can be read.
        with running([str(prism), "mock", "-h", "127.0.0.1", "-p", str(port), "-v", "error",
                      str(ROOT / "openapi.json")], port,
                     lambda url: httpx.get(f"{url}/v2/post_checkout/chat/{ORDER}/messages",
                                           timeout=1, headers={"Authorization": "Bearer x"}
                                           ).status_code == 200,
                     "Prism") as started:
            yield started

    return run()


# -- the benchmark ------------------------------------------------------------------------------
def _scenario(base_url: str, pid: int, path: str, token: str, pollers: int, interval: float,
              duration: float) -> dict[str, Any]:
    from _common import cpu_seconds, percentile

    host, port = base_url.removeprefix("http://").split(":")
    cpu_before = cpu_seconds(pid)
    warmup = 2.0
    done = subprocess.run(
        [sys.executable, __file__, "--drive", "--host", host, "--port", port, "--path", path,
         "--pollers", str(pollers), "--duration", str(duration),
         "--warmup", str(warmup), "--interval", str(interval)],
        capture_output=True, text=True, timeout=duration + 120,
        env={**os.environ, "BENCH_TOKEN": token},
    )
    if done.returncode != 0:
        raise RuntimeError(f"the load driver failed: {done.stderr.strip()[-500:]}")
    server_cpu = cpu_seconds(pid) - cpu_before
    result = json.loads(done.stdout)
    latencies = result["latencies"]
    wall = duration + warmup
    return {
        "rps": len(latencies) / duration,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "errors": len(result["errors"]),
        "error_kinds": sorted(set(result["errors"]))[:3],
        "server_cpu_pct": 100 * server_cpu / wall,
        "driver_cpu_pct": 100 * result["driver_cpu"] / wall,
    }


def _ratios(chat: list[dict[str, Any]], other: list[dict[str, Any]]) -> str:
    """The throughput ratio of each round, and their median."""
    import statistics

    ratios = [a["rps"] / b["rps"] for a, b in zip(chat, other, strict=True)]
    if len(ratios) == 1:
        return f"{ratios[0]:.2f}"
    return f"{statistics.median(ratios):.2f} ({' / '.join(f'{r:.2f}' for r in ratios)})"


def main() -> None:
    from _common import CLOCK, machine, order_with_messages, serve, user_token

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured per case")
    parser.add_argument("--pollers", type=int, nargs="+", default=[1, 50, 200, 500])
    parser.add_argument("--modes", nargs="+", default=["saturate", "interval"],
                        choices=["saturate", "interval"])
    parser.add_argument("--rounds", type=int, default=3,
                        help="times each case is measured, chat and ceiling in turn first")
    options = parser.parse_args()
    print(f"machine: {machine()}")
    with serve("--seed", "7", "--clock", CLOCK, "--no-shopper") as (base_url, pid):
        order_with_messages(base_url, USER, ORDER, MESSAGES)
        token = user_token(base_url, USER)
        chat = f"/v2/post_checkout/chat/{ORDER}/messages"
        import httpx

        body = httpx.get(base_url + chat, headers={"Authorization": f"Bearer {token}"}).content
        count = len(json.loads(body)["chat_messages"])
        print(f"chat GET: {count} messages, {len(body)} bytes of JSON; ceiling: a minimal "
              "Starlette app answering the same bytes; trivial route: /_emulator/health; "
              f"{options.duration:g} s per case\n")
        header = (f"{'mode':<10}{'pollers':>8}  {'route':<8}{'req/s':>8}{'p50 ms':>9}"
                  f"{'p99 ms':>9}{'errors':>7}{'srv CPU':>9}{'drv CPU':>9}")
        with _ceiling(body) as (ceiling_url, ceiling_pid), _prism() as prism:
            for mode in options.modes:
                interval = 0.0 if mode == "saturate" else 1.0
                print(header)
                for pollers in options.pollers:
                    rows: dict[str, list[dict[str, Any]]] = {}
                    cases = [
                        ("chat", base_url, pid, chat, token),
                        ("ceiling", ceiling_url, ceiling_pid, "/", ""),
                        ("trivial", base_url, pid, "/_emulator/health", ""),
                        *([("prism", prism[0], prism[1], chat, "x")] if prism else []),
                    ]
                    for round_ in range(options.rounds):
                        # chat and its ceiling side by side, in turn first, each round
                        order = cases if round_ % 2 == 0 else [cases[1], cases[0], *cases[2:]]
                        for route, url, srv, path, auth in order:
                            r = _scenario(url, srv, path, auth, pollers, interval,
                                          options.duration)
                            rows.setdefault(route, []).append(r)
                            kinds = f" {r['error_kinds']}" if r["errors"] else ""
                            print(f"{mode:<10}{pollers:>8}  {route:<8}{r['rps']:>8.0f}"
                                  f"{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}{r['errors']:>7}"
                                  f"{r['server_cpu_pct']:>8.0f}%{r['driver_cpu_pct']:>8.0f}%"
                                  f"{kinds}", flush=True)
                    print(f"{'':<10}{'':>8}  " + ", ".join(
                        f"chat/{other}: {_ratios(rows['chat'], rows[other])}"
                        for other in rows if other != "chat"), flush=True)
                print()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--drive":
        drive_main(sys.argv[2:])
    elif len(sys.argv) > 1 and sys.argv[1] == "--ceiling":
        ceiling_main(sys.argv[2:])
    else:
        main()
