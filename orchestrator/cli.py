"""The command line: `python -m orchestrator init | doctor | ...`.

Every command takes --mode, --postgres-uri and --sqlite-path, which override the config
(and the environment) for that one call.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import getpass
import json
import logging
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from typing import Any

from orchestrator.checkpointer import startup
from orchestrator.config import OrchestratorConfig
from orchestrator.db import check_database, head_version, make_engine, schema_version
from orchestrator.errors import InputError, OrchestratorError
from orchestrator.executor import Executor
from orchestrator.operations import Orchestrator
from orchestrator.runs import RunFilter, RunStore

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
        print(
            f"schema version: {version or 'none (run: python -m orchestrator init)'} (newest: {head_version()})"
        )
        count = RunStore(engine).count_runs() if version else 0
        print(f"runs:           {count}")
    finally:
        engine.dispose()
    return 0


def _json_arg(raw: str, flag: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{flag} is not valid JSON ({exc.msg} at character {exc.pos}); quote it like '{{\"tasks\": 5}}'."
        ) from None


def _time_arg(raw: str | None, flag: str) -> dt.datetime | None:
    if raw is None:
        return None
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise InputError(
            f"{flag} must be an ISO date or time such as 2026-11-26 or 2026-11-26T14:00."
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str, ensure_ascii=False))


def _summary(run: dict[str, Any]) -> str:
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


def _runs_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--status", action="append", default=[], help="a status (repeatable)")
    parser.add_argument("--workflow", action="append", default=[], help="a workflow (repeatable)")
    for name, flag in (
        ("tasks_total", "tasks"),
        ("tasks_completed", "completed"),
        ("tasks_failed", "failed"),
    ):
        parser.add_argument(f"--min-{flag}", type=int, dest=f"{name}_min", help=f"at least this many {name}")
        parser.add_argument(f"--max-{flag}", type=int, dest=f"{name}_max", help=f"at most this many {name}")
    parser.add_argument("--since", help="created at or after (ISO date/time, UTC)")
    parser.add_argument("--until", help="created before (ISO date/time, UTC)")
    parser.add_argument("--search", default="", help="text in the run id, tags or input")
    parser.add_argument("--sort", default="created_at", help="column to sort by")
    parser.add_argument("--asc", action="store_true", help="ascending (default: descending)")
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--offset", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print JSON")


@command("runs", "list runs with the dashboard's filters", _runs_arguments)
def cmd_runs(args: argparse.Namespace, config: OrchestratorConfig) -> int:
    counts = {k: getattr(args, k) for k in vars(args) if k.endswith(("_min", "_max"))}
    filters = RunFilter(
        statuses=args.status,
        workflows=args.workflow,
        text=args.search,
        created_from=_time_arg(args.since, "--since"),
        created_to=_time_arg(args.until, "--until"),
        **counts,
    )
    page = RunStore(make_engine(config)).query_runs(
        filters, sort=args.sort, descending=not args.asc, limit=args.limit, offset=args.offset
    )
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
    orch = Orchestrator(config)
    run = orch.get_run(args.run_id)
    _print_json({**run, "tasks": orch.store.get_tasks(args.run_id)})
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
    parser.add_argument(
        "--concurrency", type=int, help="runs at a time (default: ORCHESTRATOR_CONCURRENCY or 4)"
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=30.0,
        help="seconds to let running runs finish on SIGINT/SIGTERM before releasing them",
    )


@command("worker", "execute queued runs until SIGINT/SIGTERM", _worker_arguments)
def cmd_worker(args: argparse.Namespace, config: OrchestratorConfig) -> int:
    if args.concurrency is not None and args.concurrency < 1:
        raise InputError("--concurrency must be at least 1.")
    executor = Executor(config, concurrency=args.concurrency)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await executor.serve(stop, grace=args.grace)

    asyncio.run(serve())
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
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout, force=True)
    # Third-party chatter (httpx and the like) stays out of the CLI's output.
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("orchestrator").setLevel(logging.INFO)
    if args.command != "worker":
        logging.getLogger("orchestrator.executor").setLevel(logging.WARNING)
    try:
        config = config_from_args(args)
        config.validate()
        return COMMANDS[args.command][0](args, config)
    except OrchestratorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
