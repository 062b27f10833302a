"""`shopper-chat`: the command line (`serve` starts the development server, `run` the notebooks,
`listen` receives the event callbacks, `check` holds a server against the contract)."""

from __future__ import annotations

import argparse
import gc
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

__all__ = ["build_parser", "main"]


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, not {value}")
    return value


def _seed(text: str) -> int:
    from shopper_chat.devserver.control import MAX_SEED  # the control plane's range

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"a seed is 0 to {MAX_SEED}, not {value}")
    return value


def _seconds(text: str) -> float:
    from shopper_chat.devserver.shopper import MAX_DELAY  # the control plane's range

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value <= MAX_DELAY:
        raise argparse.ArgumentTypeError(f"seconds from 0 to {MAX_DELAY}, not {text}")
    return value


def _clock(text: str) -> str:
    from shopper_chat._time import parse_time
    from shopper_chat.devserver.control import CLOCK_RANGE, ClockRequest

    try:
        parse_time(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 time (e.g. 2026-01-15T17:00:00Z): {text!r}"
        ) from None
    try:
        ClockRequest.model_validate({"now": text})  # the control plane's range for the clock
    except ValueError:
        raise argparse.ArgumentTypeError(f"the clock is set {CLOCK_RANGE}, not {text}") from None
    return text


class _Parser(argparse.ArgumentParser):
    """Bad flags: one clear sentence and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: {message}. See `{self.prog} --help`.\n")


def _version() -> str:
    from shopper_chat import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    """The `shopper-chat` argument parser with its subcommands."""
    parser = _Parser(prog="shopper-chat", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    serve = commands.add_parser(
        "serve",
        help="run the local development server until Ctrl-C",
        description="Run the local development server (Connect API + scripted shopper).",
    )
    # Every help names its default: `%(default)s` where the value says it, words where None
    # would say nothing.
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default: %(default)s)")
    serve.add_argument("--port", type=_port, default=8765,
                       help="port, 0 for any free port (default: %(default)s)")
    serve.add_argument("--db", type=Path, default=None,
                       help="SQLite file that survives restarts, held by one server at a time "
                       "(default: none, state in memory)")
    serve.add_argument("--seed", type=_seed, default=None,
                       help="seed for every generated id (default: none, a random seed)")
    serve.add_argument("--clock", type=_clock, default=None,
                       help="freeze the clock at this ISO 8601 time (default: none, real time)")
    serve.add_argument("--shopper-script", type=Path, default=None,
                       help="YAML/JSON script of the shopper (default: none, the built-in "
                       "script)")
    serve.add_argument("--scenario", default=None, metavar="NAME_OR_FILE",
                       help="what the scripted shopper does on new orders: a built-in scenario "
                       "(tutorial, replacement, special-request, delivery-updates, "
                       "out-of-stock-refund) or a scenario YAML file (default: tutorial)")
    serve.add_argument("--no-shopper", action="store_true",
                       help="switch the scripted shopper off (default: on)")
    serve.add_argument("--reply-delay", type=_seconds, default=None,
                       help="seconds before the shopper answers, 0 to 86400 (default: none, "
                       "the script's reply_delay)")
    serve.add_argument("--access-log", action="store_true",
                       help="one line per request on stderr: method, path, status, "
                       "milliseconds (default: off)")
    serve.set_defaults(handler=_serve)

    run = commands.add_parser(
        "run",
        help="run the tutorial notebooks headless",
        description="Run the tutorial's step notebooks headless with papermill, in a chain, into "
        "<out>/<UTC timestamp>-<short id>/ (executed notebooks, transcript.*, summary.json).",
    )
    from shopper_chat import runner

    runner.add_arguments(run)
    run.set_defaults(handler=_run)

    listen = commands.add_parser(
        "listen",
        help="receive event callbacks and print one line per event",
        description="Receive Connect's event callbacks like a retailer's OAuth-protected "
        "endpoint (a token URL and an events URL on loopback) and print one line per event as "
        "it arrives, until Ctrl-C.",
    )
    from shopper_chat import listen as listening

    listening.add_arguments(listen)
    listen.set_defaults(handler=_listen)

    check = commands.add_parser(
        "check",
        help="hold a server against the contract and report where it differs",
        description="Send the tutorial's requests to a server (default CONNECT_BASE_URL, else an "
        "embedded development server), validate every answer against the committed OpenAPI "
        "document and the contract's models, and write check.md, check.json and the redacted "
        "recording.jsonl. Exit status: 0 every answer matches, 1 differences, 2 bad options "
        "or no server.",
    )
    from shopper_chat import check as check_command

    check_command.add_arguments(check)
    check.set_defaults(handler=_check)
    return parser


def _serve(args: argparse.Namespace) -> int:
    from shopper_chat.devserver import (
        DevServerConfig,
        ScenarioError,
        ScriptError,
        UnknownScenario,
        start,
    )
    from shopper_chat.devserver.callbacks import config_from_env
    from shopper_chat.devserver.store import DatabaseInUse

    if args.access_log:
        _log_access()
    try:
        callbacks = config_from_env(os.environ)
    except ValueError as exc:
        print(f"shopper-chat serve: {exc}", file=sys.stderr)
        return 2
    try:
        config = DevServerConfig(
            seed=args.seed,
            clock=args.clock,
            shopper=not args.no_shopper,
            shopper_script=args.shopper_script,
            db=args.db,
            host=args.host,
            port=args.port,
            access_log=args.access_log,
            reply_delay=args.reply_delay,
            callbacks=callbacks,
            scenario=args.scenario,
        )
        config.script()
        config.scenarios()
        server = start(config)
    except (ScriptError, ScenarioError, UnknownScenario, DatabaseInUse) as exc:
        print(f"shopper-chat serve: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"shopper-chat serve: cannot listen on {args.host}:{args.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 2
    except Exception as exc:  # e.g. an unusable --db file
        print(f"shopper-chat serve: cannot start: {exc}", file=sys.stderr)
        return 2
    # What start-up made (modules, the app, the contract's models) lives as long as the process:
    # kept out of the garbage collector's passes, which then cost less under load.
    gc.freeze()
    print(
        f"shopper-chat development server on {server.base_url} (client id {server.client_id})",
        flush=True,
    )
    if callbacks is not None:
        print(f"event callbacks go to {callbacks.public()['url']}", flush=True)
    stopped = threading.Event()
    try:
        while not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def _log_access() -> None:
    """The access log's lines on stderr, as they are (stdout keeps the one line with the URL)."""
    import logging

    from shopper_chat.devserver.server import access_logger

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access_logger.addHandler(handler)
    access_logger.setLevel(logging.INFO)
    access_logger.propagate = False


def _run(args: argparse.Namespace) -> int:
    from shopper_chat import runner

    return runner.main(args)


def _listen(args: argparse.Namespace) -> int:
    from shopper_chat import listen

    return listen.main(args)


def _check(args: argparse.Namespace) -> int:
    from shopper_chat import check

    return check.main(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `shopper-chat` console script."""
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
