"""The command line: `python -m orchestrator init | doctor | ...`.

Every command takes --mode, --postgres-uri and --sqlite-path, which override the config
(and the environment) for that one call.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence

from orchestrator.checkpointer import startup
from orchestrator.config import OrchestratorConfig
from orchestrator.db import check_database, head_version, make_engine, schema_version
from orchestrator.errors import OrchestratorError
from orchestrator.runs import RunStore

Command = Callable[[argparse.Namespace, OrchestratorConfig], int]
COMMANDS: dict[str, tuple[Command, str, Callable[[argparse.ArgumentParser], None] | None]] = {}


def command(name: str, help: str, arguments: Callable[[argparse.ArgumentParser], None] | None = None):
    """Register a CLI command (a function of the parsed arguments and the config)."""

    def register(func: Command) -> Command:
        COMMANDS[name] = (func, help, arguments)
        return func

    return register


def config_from_args(args: argparse.Namespace) -> OrchestratorConfig:
    """The config, with the flags given on the command line taking precedence."""
    return OrchestratorConfig(
        checkpoint_mode=args.mode, postgres_uri=args.postgres_uri, sqlite_path=args.sqlite_path
    )


@command("init", "create or upgrade the checkpoint and runs tables, then exit")
def cmd_init(args: argparse.Namespace, config: OrchestratorConfig) -> int:
    asyncio.run(startup(config))
    return 0


@command("doctor", "say which database is used, whether it answers, and what it holds")
def cmd_doctor(args: argparse.Namespace, config: OrchestratorConfig) -> int:
    print(f"mode:           {config.checkpoint_mode}")
    if config.checkpoint_mode == "sqlite":
        print(f"sqlite path:    {config.display_name}")
    print(f"postgres uri:   {config.masked_uri() or '-'} (from: {config.uri_source})")
    engine = make_engine(config)
    try:
        check_database(engine)
        print("database:       answers")
        version = schema_version(engine)
        print(f"schema version: {version or 'none (run: python -m orchestrator init)'} (newest: {head_version()})")
        count = RunStore(engine).count_runs() if version else 0
        print(f"runs:           {count}")
    finally:
        engine.dispose()
    return 0


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--mode", choices=None, help='"sqlite" or "postgres" (overrides CHECKPOINT_MODE)')
    common.add_argument("--postgres-uri", help="PostgreSQL URI (overrides POSTGRES_URI)")
    common.add_argument("--sqlite-path", help="SQLite database file (overrides SQLITE_PATH)")
    parser = argparse.ArgumentParser(prog="python -m orchestrator", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_func, help_text, arguments) in COMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, parents=[common])
        if arguments:
            arguments(sub_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a user's error prints one sentence on stderr and exits 1."""
    _load_commands()
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout, force=True)
    # Third-party chatter (httpx and the like) stays out of the CLI's output.
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("orchestrator").setLevel(logging.INFO)
    try:
        config = config_from_args(args)
        config.validate()
        return COMMANDS[args.command][0](args, config)
    except OrchestratorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _load_commands() -> None:
    """Import the modules that register further commands (runs, workers)."""
    import importlib

    for module in ("orchestrator.cli_runs",):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
