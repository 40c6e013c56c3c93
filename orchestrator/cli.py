"""The command line: `python -m orchestrator init | doctor | ...`.

Every command takes --mode, --postgres-uri and --sqlite-path, which override the config
(and the environment) for that one call.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import math
import re
import signal
import socket
import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import psycopg
from sqlalchemy.exc import DBAPIError

from orchestrator.checkpointer import startup
from orchestrator.config import MAX_CONCURRENCY, OrchestratorConfig
from orchestrator.db import (
    check_database,
    describe_connection_error,
    head_version,
    make_engine,
    schema_version,
)
from orchestrator.errors import InputError, OrchestratorError, ReadOnlyError
from orchestrator.executor import Executor
from orchestrator.operations import Orchestrator
from orchestrator.rows import RunSummary
from orchestrator.runs import RunFilter, RunStore
from orchestrator.validation import parse_count, parse_json, parse_time

Command = Callable[[argparse.Namespace, OrchestratorConfig], int]
COMMANDS: dict[str, tuple[Command, str, Callable[[argparse.ArgumentParser], None] | None]] = {}


def command(
    name: str, help: str, arguments: Callable[[argparse.ArgumentParser], None] | None = None
) -> Callable[[Command], Command]:
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


def reading(config: OrchestratorConfig) -> OrchestratorConfig:
    """The config for a command that only reads: it opens the database read-only, whatever
    ORCHESTRATOR_READ_ONLY says, so it never creates a file, a table or a migration."""
    return config.with_read_only()


@command("init", "create or upgrade the checkpoint and runs tables, then exit")
def cmd_init(args: argparse.Namespace, config: OrchestratorConfig) -> int:
    if config.read_only:
        raise ReadOnlyError(
            "init creates and upgrades tables, which a read-only configuration may not; "
            "unset ORCHESTRATOR_READ_ONLY for this command, or run it where the database may be written."
        )
    engine = make_engine(config)
    try:
        check_database(engine)  # a clear sentence for a file that is no database, a folder, a server down
        asyncio.run(startup(config, engine))
    finally:
        engine.dispose()
    return 0


@command("doctor", "say which database is used, whether it answers, and what it holds")
def cmd_doctor(args: argparse.Namespace, config: OrchestratorConfig) -> int:
    print(f"mode:           {config.checkpoint_mode}")
    if config.checkpoint_mode == "sqlite":
        print(f"sqlite path:    {config.display_name}")
    print(f"postgres uri:   {config.masked_uri() or '-'} (from: {config.uri_source})")
    if config.checkpoint_mode == "sqlite" and not Path(config.sqlite_path).exists():
        print("database:       does not exist yet (python -m orchestrator init creates it)")
        print(f"schema version: none (run: python -m orchestrator init) (newest: {head_version()})")
        print("runs:           0")
        return 0
    engine = make_engine(config, read_only=True)
    try:
        check_database(engine)
        print("database:       answers")
        version = schema_version(engine)
        print(
            f"schema version: {version or 'none (run: python -m orchestrator init)'} (newest: {head_version()})"
        )
        count = RunStore(engine, read_only=True).count_runs() if version else 0
        print(f"runs:           {count}")
    finally:
        engine.dispose()
    return 0


def _json_arg(raw: str, flag: str) -> Any:
    return parse_json(raw, flag)


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str, ensure_ascii=False))


def _summary(run: RunSummary) -> str:
    return (
        f"{run['run_id']} {run['workflow']} {run['status']} "
        f"tasks {run['tasks_completed']}/{run['tasks_total']} completed, {run['tasks_failed']} failed"
    )


def _run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("workflow", help="a workflow name (see the launch page or `doctor`)")
    parser.add_argument("--input", default="{}", help="the input as a JSON object")
    parser.add_argument("--tag", action="append", default=[], help="a tag (repeatable)")
    parser.add_argument("--wait", action="store_true", help="execute here and now; exit 0 only on success")


@command("run", "queue a run (with --wait: execute it here and report)", _run_arguments)
def cmd_run(args: argparse.Namespace, config: OrchestratorConfig) -> int:
    orch = Orchestrator(config)
    launched_by = f"cli:{getpass.getuser()}@{socket.gethostname()}"
    run_id = orch.launch(args.workflow, _json_arg(args.input, "--input"), args.tag, launched_by=launched_by)
    print(f"run_id: {run_id}")
    if not args.wait:
        print("queued; a worker or the dashboard's executor will run it")
        return 0
    executor = Executor(config, engine=orch.engine, registry=orch.registry, concurrency=1)
    claimed = executor.store.claim_queued(executor.worker, 1, run_id=run_id)
    if claimed:
        asyncio.run(executor.execute_claimed(claimed[0]))
    run = orch.get_run(run_id)
    print(_summary(run))
    if run["error"]:
        print(run["error"].splitlines()[0], file=sys.stderr)
    return 0 if run["status"] == "succeeded" else 1


COUNT_FLAGS = {"tasks_total": "tasks", "tasks_completed": "completed", "tasks_failed": "failed"}


def _runs_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--status", action="append", default=[], help="a status (repeatable)")
    parser.add_argument("--workflow", action="append", default=[], help="a workflow (repeatable)")
    for name, flag in COUNT_FLAGS.items():
        parser.add_argument(f"--min-{flag}", dest=f"{name}_min", help=f"at least this many {name}")
        parser.add_argument(f"--max-{flag}", dest=f"{name}_max", help=f"at most this many {name}")
    parser.add_argument("--since", help="created at or after (ISO date/time, UTC)")
    parser.add_argument("--until", help="created before (ISO date/time, UTC)")
    parser.add_argument("--search", default="", help="text in the run id, tags or input")
    parser.add_argument("--sort", default="created_at", help="column to sort by")
    parser.add_argument("--asc", action="store_true", help="ascending (default: descending)")
    parser.add_argument("--limit", default="50", help="at most this many runs (default 50)")
    parser.add_argument("--offset", default="0", help="skip this many runs first")
    parser.add_argument("--json", action="store_true", help="print JSON")


@command("runs", "list runs with the dashboard's filters", _runs_arguments)
def cmd_runs(args: argparse.Namespace, config: OrchestratorConfig) -> int:
    counts: dict[str, Any] = {
        key: parse_count(value, "--" + ("min" if key.endswith("_min") else "max") + "-" + COUNT_FLAGS[key[:-4]])
        for key, value in vars(args).items()
        if key.endswith(("_min", "_max")) and value is not None
    }
    filters = RunFilter(
        statuses=args.status,
        workflows=args.workflow,
        text=args.search,
        created_from=parse_time(args.since, "--since") if args.since is not None else None,
        created_to=parse_time(args.until, "--until") if args.until is not None else None,
        **counts,
    )
    limit, offset = parse_count(args.limit, "--limit", low=1), parse_count(args.offset, "--offset")
    orch = Orchestrator(reading(config))
    try:
        page = orch.store.query_runs(filters, sort=args.sort, descending=not args.asc, limit=limit, offset=offset)
    finally:
        orch.engine.dispose()
    if args.json:
        _print_json({"total": page.total, "runs": page.rows})
        return 0
    print(
        f"{'run_id':32}  {'workflow':14} {'status':14} {'created (UTC)':19} {'total':>6} {'done':>6} {'failed':>6}"
    )
    for run in page.rows:
        print(
            f"{run['run_id']:32}  {run['workflow'][:14]:14} {run['status']:14} "
            f"{run['created_at']:%Y-%m-%d %H:%M:%S} {run['tasks_total']:6} {run['tasks_completed']:6} {run['tasks_failed']:6}"
        )
    print(f"{len(page.rows)} of {page.total} matching runs")
    return 0


def _run_id_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id")


@command("show", "print one run as JSON, with its tasks", _run_id_argument)
def cmd_show(args: argparse.Namespace, config: OrchestratorConfig) -> int:
    orch = Orchestrator(reading(config))
    try:
        run = orch.get_run(args.run_id)
        _print_json({**run, "tasks": orch.store.get_tasks(args.run_id)})
    finally:
        orch.engine.dispose()
    return 0


def _operation(
    name: str,
    help_text: str,
    call: Callable[[Orchestrator, argparse.Namespace], Any],
    arguments: Callable[[argparse.ArgumentParser], None] = _run_id_argument,
) -> None:
    def run(args: argparse.Namespace, config: OrchestratorConfig) -> int:
        print(f"{name}: {call(Orchestrator(config), args)}")
        return 0

    command(name, help_text, arguments)(run)


def _approve_arguments(parser: argparse.ArgumentParser) -> None:
    _run_id_argument(parser)
    parser.add_argument(
        "--value", default="null", help="the answer as JSON (plan_execute: the list of tasks)"
    )
    parser.add_argument("--interrupt-id", help="which pending interrupt to answer")


def _reject_arguments(parser: argparse.ArgumentParser) -> None:
    _run_id_argument(parser)
    parser.add_argument("--reason", default="", help="why, stored with the run")


_operation("cancel", "cancel a queued, running or waiting run", lambda o, a: o.cancel(a.run_id))
_operation(
    "resume",
    "continue an interrupted or failed run from its last checkpoint",
    lambda o, a: o.resume(a.run_id),
)
_operation(
    "approve",
    "answer a waiting run's interrupt and let it continue",
    lambda o, a: o.approve(a.run_id, _json_arg(a.value, "--value"), interrupt_id=a.interrupt_id),
    _approve_arguments,
)
_operation(
    "reject",
    "refuse a waiting run's request; it ends cancelled",
    lambda o, a: o.reject(a.run_id, a.reason),
    _reject_arguments,
)
_operation("rerun", "queue a new run with the same workflow, input and tags", lambda o, a: o.rerun(a.run_id))
_operation(
    "delete",
    "delete a run, its tasks and its checkpoints",
    lambda o, a: "deleted" if o.delete(a.run_id) else "nothing to delete",
)


def _worker_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--concurrency", help="runs at a time (default: ORCHESTRATOR_CONCURRENCY or 4)")
    parser.add_argument(
        "--grace",
        default="30",
        help="seconds to let running runs finish on SIGINT/SIGTERM before releasing them",
    )


def _seconds_arg(raw: str, flag: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 <= value <= 86_400):
        raise InputError(f"{flag} must be a number of seconds from 0 to 86400.")
    return value


@command("worker", "execute queued runs until SIGINT/SIGTERM", _worker_arguments)
def cmd_worker(args: argparse.Namespace, config: OrchestratorConfig) -> int:
    concurrency = None
    if args.concurrency is not None:
        concurrency = parse_count(args.concurrency, "--concurrency", low=1)
        if concurrency > MAX_CONCURRENCY:
            raise InputError(f"--concurrency must be a whole number from 1 to {MAX_CONCURRENCY}.")
    grace = _seconds_arg(args.grace, "--grace")
    executor = Executor(config, concurrency=concurrency)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await executor.serve(stop, grace=grace)

    asyncio.run(serve())
    return 0


# What argparse may echo of a mistyped argument: never a URI or a password.
_SECRET_LOOKING = re.compile(r"\S*(://|password|@)\S*", re.IGNORECASE)


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors as one line (and no URI or password repeated)."""

    def error(self, message: str) -> NoReturn:
        message = _SECRET_LOOKING.sub("(not shown)", message)
        self.exit(2, f"error: {message}; see python -m orchestrator {self.prog.split()[-1]} --help.\n")


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--mode", choices=None, help='"sqlite" or "postgres" (overrides CHECKPOINT_MODE)')
    common.add_argument("--postgres-uri", help="PostgreSQL URI (overrides POSTGRES_URI)")
    common.add_argument("--sqlite-path", help="SQLite database file (overrides SQLITE_PATH)")
    parser = _Parser(prog="python -m orchestrator", description=__doc__.splitlines()[0])
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
