"""`shopper-chat`: the command line (`serve` starts the development server, `run` the notebooks)."""

from __future__ import annotations

import argparse
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
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"a seed is 0 or more, not {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value <= 86400:
        raise argparse.ArgumentTypeError(f"seconds from 0 to 86400, not {text}")
    return value


def _clock(text: str) -> str:
    from shopper_chat._time import parse_time

    try:
        parse_time(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 time (e.g. 2026-01-15T17:00:00Z): {text!r}"
        ) from None
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
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=_port, default=8765, help="port (0: any free port)")
    serve.add_argument("--db", type=Path, default=None, help="SQLite file that survives restarts")
    serve.add_argument("--seed", type=_seed, default=None, help="seed for every generated id")
    serve.add_argument(
        "--clock", type=_clock, default=None, help="freeze the clock at this ISO 8601 time"
    )
    serve.add_argument(
        "--shopper-script", type=Path, default=None, help="YAML/JSON script of the shopper"
    )
    serve.add_argument(
        "--scenario", default=None, metavar="NAME_OR_FILE",
        help="what the scripted shopper does on new orders: a built-in scenario (tutorial, "
        "replacement, special-request, delivery-updates, out-of-stock-refund; default: "
        "tutorial) or a scenario YAML file",
    )
    serve.add_argument("--no-shopper", action="store_true", help="switch the scripted shopper off")
    serve.add_argument(
        "--reply-delay", type=_seconds, default=None, help="seconds before the shopper answers"
    )
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
    return parser


def _serve(args: argparse.Namespace) -> int:
    from shopper_chat.devserver import (
        DevServerConfig,
        ScenarioError,
        ScriptError,
        UnknownScenario,
        start,
    )

    try:
        config = DevServerConfig(
            seed=args.seed,
            clock=args.clock,
            shopper=not args.no_shopper,
            shopper_script=args.shopper_script,
            db=args.db,
            host=args.host,
            port=args.port,
            reply_delay=args.reply_delay,
            scenario=args.scenario,
        )
        config.script()
        config.scenarios()
        server = start(config)
    except (ScriptError, ScenarioError, UnknownScenario) as exc:
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
    print(
        f"shopper-chat development server on {server.base_url} (client id {server.client_id})",
        flush=True,
    )
    stopped = threading.Event()
    try:
        while not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def _run(args: argparse.Namespace) -> int:
    from shopper_chat import runner

    return runner.main(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `shopper-chat` console script."""
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
