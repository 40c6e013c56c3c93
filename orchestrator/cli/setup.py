"""CLI commands that set up and serve: init, doctor, worker, workers."""

from __future__ import annotations

import argparse
import asyncio
import math
import signal
from pathlib import Path

from orchestrator.cli.base import command, print_json, reading
from orchestrator.config import MAX_CONCURRENCY, OrchestratorConfig
from orchestrator.db import check_database, head_version, make_engine, schema_version
from orchestrator.errors import InputError, OrchestratorError, ReadOnlyError
from orchestrator.operations import Orchestrator
from orchestrator.runs import RunStore
from orchestrator.validation import parse_count

# The savers, the executor and the workflows (LangGraph) are imported by the commands that use
# them, not by the command table: `runs` and `--help` start without them.


@command("init", "create or upgrade the checkpoint and runs tables, then exit")
def cmd_init(args: argparse.Namespace, config: OrchestratorConfig) -> int:
    if config.read_only:
        raise ReadOnlyError(
            "init creates and upgrades tables, which a read-only configuration may not; "
            "unset ORCHESTRATOR_READ_ONLY for this command, or run it where the database may be written."
        )
    from orchestrator.checkpointer import startup

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
    _print_workflows(config)
    return 0


def _print_workflows(config: OrchestratorConfig) -> None:
    """The workflows this machine can run, and the configured entries it cannot load."""
    from orchestrator.workflows import load_registry

    try:
        registry = load_registry(config.workflows, config.model)
    except OrchestratorError as exc:  # a model that does not load
        print(f"workflows:      none usable ({exc})")
        return
    print(f"workflows:      {', '.join(registry.names())}")
    for name, reason in registry.errors().items():
        print(f"  broken:       {name}: {reason}")


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
        sentence = f"--concurrency must be a whole number from 1 to {MAX_CONCURRENCY}."
        try:
            concurrency = parse_count(args.concurrency, "--concurrency", low=1)
        except InputError:
            raise InputError(sentence) from None  # the worker's range, not any count's
        if concurrency > MAX_CONCURRENCY:
            raise InputError(sentence)
    grace = _seconds_arg(args.grace, "--grace")
    from orchestrator.checkpointer import init_runs_tables
    from orchestrator.executor import Executor

    executor = Executor(config, concurrency=concurrency)  # refuses a read-only config first
    # As `init` does: a new database (a new SQLite file, an empty PostgreSQL database) gets our
    # tables and migrations here, LangGraph's when the executor opens its saver.
    check_database(executor.engine)
    init_runs_tables(executor.engine)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await executor.serve(stop, grace=grace)

    asyncio.run(serve())
    return 0


def _workers_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--online", action="store_true", help="only the workers online now")
    parser.add_argument("--json", action="store_true", help="print JSON")


@command(
    "workers", "list the workers: online, last heartbeat, workflows, runs in progress", _workers_arguments
)
def cmd_workers(args: argparse.Namespace, config: OrchestratorConfig) -> int:
    orch = Orchestrator(reading(config))
    try:
        found = orch.workers(include_offline=not args.online)
    finally:
        orch.engine.dispose()
    if args.json:
        print_json(found)
        return 0
    print(f"{'worker':40} {'online':7} {'last heartbeat (UTC)':20} {'runs':>5}  workflows")
    for w in found:
        print(
            f"{w['worker'][:40]:40} {'yes' if w['online'] else 'no':7} {w['heartbeat_at']:%Y-%m-%d %H:%M:%S} "
            f"{w['running']:>5}/{w['concurrency']:<3} {', '.join(w['workflows'])}"
        )
        for name, reason in (w["broken"] or {}).items():
            print(f"{'':40} broken: {name}: {reason}")
    print(f"{sum(w['online'] for w in found)} of {len(found)} workers online")
    return 0
