"""What every CLI command shares: the command registry, the config from the flags, and helpers."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from orchestrator.config import OrchestratorConfig
from orchestrator.operations import Orchestrator
from orchestrator.rows import RunSummary
from orchestrator.status import RunStatus
from orchestrator.validation import parse_json

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
        checkpoint_mode=getattr(args, "mode", None),
        postgres_uri=getattr(args, "postgres_uri", None),
        sqlite_path=getattr(args, "sqlite_path", None),
    )


def reading(config: OrchestratorConfig) -> OrchestratorConfig:
    """The config for a command that only reads: it opens the database read-only, whatever
    ORCHESTRATOR_READ_ONLY says, so it never creates a file, a table or a migration."""
    return config.with_read_only()


def json_arg(raw: str | None, flag: str) -> Any:
    """A JSON flag's value (None when the flag was not given)."""
    return None if raw is None else parse_json(raw, flag)


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str, ensure_ascii=False))


def summary(run: RunSummary) -> str:
    return (
        f"{run['run_id']} {run['workflow']} {run['status']} "
        f"tasks {run['tasks_completed']}/{run['tasks_total']} completed, {run['tasks_failed']} failed"
    )


def add_wait(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait",
        action="store_true",
        help="execute the run here and now (or wait for the worker that took it); exit 0 only on success",
    )


def execute_here(orch: Orchestrator, run_id: str) -> int:
    """Execute a queued run in this process (or wait while another executor has it), then print
    its summary; 0 if it succeeded, 1 otherwise (a run waiting for an answer says so)."""
    from orchestrator.executor import Executor  # LangGraph and the workflows: only to execute

    executor = Executor(orch.config, engine=orch.engine, registry=orch.registry, concurrency=1)
    claimed = executor.store.claim_queued(executor.worker, 1, run_id=run_id)
    if claimed:
        asyncio.run(executor.execute_claimed(claimed[0]))
    run = orch.get_run(run_id)
    while run["status"] in (RunStatus.QUEUED, RunStatus.RUNNING):
        time.sleep(0.2)  # another executor took it: watch its row until the run rests
        run = orch.get_run(run_id)
    print(summary(run))
    if run["status"] == RunStatus.AWAITING_INPUT:
        print(f"waiting for an answer: python -m orchestrator approve|respond|reject {run_id}")
    elif run["error"]:
        print(run["error"].splitlines()[0], file=sys.stderr)
    return 0 if run["status"] == RunStatus.SUCCEEDED else 1
