"""The command line: `python -m orchestrator init | doctor | run | ...` (also `orchestrator ...`).

Every command takes --mode, --postgres-uri and --sqlite-path (before or after the command), which
override the config (and the environment) for that one call.
"""

from __future__ import annotations

import argparse
import gc
import logging
import re
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from sqlalchemy.exc import DBAPIError

from orchestrator.cli import bulk as _bulk  # noqa: F401  (registers its commands)
from orchestrator.cli import fields as _fields  # noqa: F401  (registers its commands)
from orchestrator.cli import logs as _logs  # noqa: F401  (registers its commands)
from orchestrator.cli import runs as _runs  # noqa: F401  (registers its commands)
from orchestrator.cli import setup as _setup  # noqa: F401  (registers its commands)
from orchestrator.cli import transfer as _transfer  # noqa: F401  (registers its commands)
from orchestrator.cli.base import COMMANDS, config_from_args
from orchestrator.config import OrchestratorConfig
from orchestrator.db import describe_connection_error
from orchestrator.errors import OrchestratorError

# What argparse may echo of a mistyped argument: never a URI or a password.
_SECRET_LOOKING = re.compile(r"\S*(://|password|@)\S*", re.IGNORECASE)


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors as one line (and no URI or password repeated)."""

    def error(self, message: str) -> NoReturn:
        message = _SECRET_LOOKING.sub("(not shown)", message)
        # An argument echoed back keeps the line whole: a control or line-breaking character
        # (NUL, U+0085, U+2028) is shown escaped, as repr() shows it.
        message = "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in message)
        self.exit(2, f"error: {message}; see {self.prog} --help.\n")


def build_parser() -> argparse.ArgumentParser:
    # The shared flags go before the command or after it (`--mode postgres doctor`, `doctor --mode
    # postgres`); SUPPRESS keeps a flag given before the command from being reset by the command's
    # own parser, and after it wins.
    common = _Parser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument("--mode", choices=None, help='"sqlite" or "postgres" (overrides CHECKPOINT_MODE)')
    common.add_argument("--postgres-uri", help="PostgreSQL URI (overrides POSTGRES_URI)")
    common.add_argument("--sqlite-path", help="SQLite database file (overrides SQLITE_PATH)")
    prog = "orchestrator" if Path(sys.argv[0]).name == "orchestrator" else "python -m orchestrator"
    parser = _Parser(prog=prog, description=__doc__.splitlines()[0], parents=[common])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_func, help_text, arguments) in COMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, parents=[common])
        if arguments:
            arguments(sub_parser)
    return parser


# Options whose value may start with "-" (`--sort -input.tasks`): argparse would take it for an option.
_DASH_VALUES = ("--sort",)


def _values_after_options(argv: list[str]) -> list[str]:
    """`--sort -x` as `--sort=-x`, so that a descending sort can be written as in the README."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] in _DASH_VALUES and i + 1 < len(argv) and argv[i + 1].startswith("-"):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def _psycopg_error() -> tuple[type[Exception], ...]:
    """psycopg's error class once psycopg is imported (only then can it be raised): a SQLite
    read does not import psycopg just to name its error."""
    psycopg = sys.modules.get("psycopg")
    return (psycopg.Error,) if psycopg is not None else ()


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a user's error prints one sentence on stderr and exits 1."""
    args = build_parser().parse_args(_values_after_options(list(sys.argv[1:] if argv is None else argv)))
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout, force=True)
    # Third-party chatter (httpx and the like) stays out of the CLI's output.
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("orchestrator").setLevel(logging.INFO)
    if args.command != "worker":
        logging.getLogger("orchestrator.executor").setLevel(logging.WARNING)
    config: OrchestratorConfig | None = None
    database_errors: tuple[type[Exception], ...] = (DBAPIError, sqlite3.Error)
    try:
        config = config_from_args(args)
        config.validate()
        return COMMANDS[args.command][0](args, config)
    except OrchestratorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except database_errors + _psycopg_error() as exc:
        # A database failure no check above foresaw: still one sentence, without the password.
        assert config is not None
        print(f"error: {describe_connection_error(exc, config.database_url())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def run() -> NoReturn:
    """The `orchestrator` command (and `python -m orchestrator`): `main`, then the process ends."""
    code = main()
    # The OS frees what is left: without this, Python's last garbage collections over everything
    # LangGraph and SQLAlchemy imported took 0.5-0.6 s at every exit of a worker or command
    # (atexit handlers, logging's flush among them, still run).
    gc.freeze()
    raise SystemExit(code)
