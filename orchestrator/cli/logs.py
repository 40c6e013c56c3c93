"""CLI: `logs RUN [--task ID] [--level WARNING] [--search TEXT] [--follow]`, what a run's tasks logged."""

from __future__ import annotations

import argparse
import json
import time

from orchestrator.cli.base import command, reading
from orchestrator.config import OrchestratorConfig
from orchestrator.errors import InputError
from orchestrator.observe.reads import LogRow, level_name, level_number
from orchestrator.observe.retention import parse_age, prune_observations
from orchestrator.operations import Orchestrator
from orchestrator.status import RunStatus
from orchestrator.validation import check_search

FOLLOW_SECONDS = 1.0
# --follow stops once the run is in none of these (at rest: ended, or waiting for a person).
MOVING = (RunStatus.QUEUED, RunStatus.RUNNING)
PAGE = 1_000


def _logs_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id")
    parser.add_argument("--task", help="one task's lines: its id, or the first characters of it")
    parser.add_argument("--level", default="DEBUG", help="from this level up (DEBUG, INFO, WARNING, ERROR)")
    parser.add_argument("--search", default="", help="lines holding this text (any case)")
    parser.add_argument("--follow", action="store_true", help="keep printing new lines while the run goes")
    parser.add_argument("--json", action="store_true", help="print JSON lines")


def line_text(line: LogRow) -> str:
    return (
        f"{line['at']:%Y-%m-%d %H:%M:%S.%f}"[:-3]
        + f" {level_name(line['level']):8} {line['node']}[{line['task_id'][:8]}] {line['logger']}: {line['message']}"
    )


def task_by_prefix(orch: Orchestrator, run_id: str, prefix: str) -> str:
    """The run's task whose id is `prefix`, or the one task whose id starts with it."""
    prefix = prefix.strip()
    ids = {t["task_id"] for t in orch.store.get_tasks(run_id)}
    if prefix in ids:
        return prefix
    found = sorted(i for i in ids if prefix and i.startswith(prefix))
    if len(found) == 1:
        return found[0]
    if not found:
        raise InputError(
            f"Run {run_id} has no task whose id starts with {prefix[:40]!r}; `show` lists its tasks."
        )
    raise InputError(f"{len(found)} tasks of run {run_id} start with {prefix!r}; give more of the id.")


@command("logs", "print what a run's tasks logged (--follow: while it goes)", _logs_arguments)
def cmd_logs(args: argparse.Namespace, config: OrchestratorConfig) -> int:
    min_level = level_number(args.level, "--level")
    search = check_search(args.search)
    orch = Orchestrator(reading(config))
    try:
        run = orch.get_run(args.run_id)
        task_id = task_by_prefix(orch, args.run_id, args.task) if args.task else None
        after = 0
        while True:
            active = run["status"] in MOVING
            lines = orch.observations.logs(
                args.run_id,
                task_id=task_id,
                min_level=min_level,
                text=search,
                after_id=after,
                limit=PAGE,
            )
            for line in lines:
                if args.json:
                    print(json.dumps(line, default=str, ensure_ascii=False), flush=True)
                else:
                    print(line_text(line), flush=True)
            if lines:
                after = lines[-1]["id"]
            if len(lines) == PAGE:
                continue  # more are waiting
            if not args.follow or not active:
                break
            time.sleep(FOLLOW_SECONDS)
            run = orch.get_run(args.run_id)
    finally:
        orch.engine.dispose()
    return 0


def _prune_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--logs-older-than",
        required=True,
        help="cut the logs, task inputs/outputs and model calls of runs that finished this long ago: 30d",
    )


@command(
    "prune",
    "cut old runs' logs, task inputs/outputs and model calls (their counts stay on the run)",
    _prune_arguments,
)
def cmd_prune(args: argparse.Namespace, config: OrchestratorConfig) -> int:
    days = parse_age(args.logs_older_than, "--logs-older-than")
    orch = Orchestrator(config)
    try:
        pruned = prune_observations(orch.engine, days)
    finally:
        orch.engine.dispose()
    print(
        f"cut {pruned.log_lines:,} log lines, {pruned.model_calls:,} model calls and "
        f"{pruned.task_io:,} task inputs/outputs of {pruned.runs:,} runs finished over {days} days ago"
    )
    return 0
