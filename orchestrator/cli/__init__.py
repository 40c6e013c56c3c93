"""The command line: `python -m orchestrator init | doctor | run | ...` (also `orchestrator ...`).

Every command takes --mode, --postgres-uri and --sqlite-path, which override the config
(and the environment) for that one call.
"""

from __future__ import annotations

import argparse
import logging
import re
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import psycopg
from sqlalchemy.exc import DBAPIError

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
        self.exit(2, f"error: {message}; see {self.prog} --help.\n")


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--mode", choices=None, help='"sqlite" or "postgres" (overrides CHECKPOINT_MODE)')
    common.add_argument("--postgres-uri", help="PostgreSQL URI (overrides POSTGRES_URI)")
    common.add_argument("--sqlite-path", help="SQLite database file (overrides SQLITE_PATH)")
    prog = "orchestrator" if Path(sys.argv[0]).name == "orchestrator" else "python -m orchestrator"
    parser = _Parser(prog=prog, description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_func, help_text, arguments) in COMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, parents=[common])
        if arguments:
            arguments(sub_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a user's error prints one sentence on stderr and exits 1."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout, force=True)
    # Third-party chatter (httpx and the like) stays out of the CLI's output.
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("orchestrator").setLevel(logging.INFO)
    if args.command != "worker":
        logging.getLogger("orchestrator.executor").setLevel(logging.WARNING)
    config: OrchestratorConfig | None = None
    try:
        config = config_from_args(args)
        config.validate()
        return COMMANDS[args.command][0](args, config)
    except OrchestratorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (DBAPIError, sqlite3.Error, psycopg.Error) as exc:
        # A database failure no check above foresaw: still one sentence, without the password.
        assert config is not None
        print(f"error: {describe_connection_error(exc, config.database_url())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
