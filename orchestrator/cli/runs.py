"""CLI commands on runs: run, runs, show, and the operations (cancel, resume, approve, respond,
reject, fork, rerun, delete), and presets."""

from __future__ import annotations

import argparse
import getpass
import json
import socket
from collections.abc import Callable
from typing import Any

from orchestrator import run_notes
from orchestrator.cli.base import add_wait, command, execute_here, json_arg, print_json, reading
from orchestrator.config import OrchestratorConfig
from orchestrator.errors import InputError
from orchestrator.interrupts import HUMAN_ACTIONS, human_request
from orchestrator.observe.figures import cost_text
from orchestrator.operations import Orchestrator
from orchestrator.run_queries import RunFilter, empty_ranges, sort_field
from orchestrator.run_queries.columns import checked_columns
from orchestrator.run_queries.filter import COST, parse_cost
from orchestrator.status import RunStatus
from orchestrator.validation import parse_count, parse_time


def launcher() -> str:
    return f"cli:{getpass.getuser()}@{socket.gethostname()}"


def _run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("workflow", help="a workflow name (`doctor` lists them)")
    parser.add_argument("--input", help="the input as a JSON object (over the preset's, key by key)")
    parser.add_argument(
        "--config", help="the run's configurable keys as a JSON object (over the preset's, key by key)"
    )
    parser.add_argument("--preset", help="start from this saved preset's input and config")
    parser.add_argument("--tag", action="append", default=[], help="a tag (repeatable)")
    add_wait(parser)


@command("run", "queue a run (with --wait: execute it here and report)", _run_arguments)
def cmd_run(args: argparse.Namespace, config: OrchestratorConfig) -> int:
    orch = Orchestrator(config)
    run_id = orch.launch(
        args.workflow,
        json_arg(args.input, "--input"),
        args.tag,
        config=json_arg(args.config, "--config"),
        preset=args.preset,
        launched_by=launcher(),
    )
    print(f"run_id: {run_id}")
    if not args.wait:
        print("queued; a worker or the dashboard's executor will run it")
        return 0
    return execute_here(orch, run_id)


COUNT_FLAGS = {
    "tasks_total": "tasks",
    "tasks_completed": "completed",
    "tasks_failed": "failed",
    "tokens": "tokens",
    "model_calls": "calls",
    "warnings": "warnings",
    "errors": "errors",
    "cost_usd": "cost",
}
COUNT_HELP = {"tokens": "input + output tokens", "model_calls": "model calls", "cost_usd": "US dollars of model calls"}


def filter_arguments(parser: argparse.ArgumentParser) -> None:
    """The runs page's filters as flags (`runs`, the bulk actions and `export` take the same)."""
    parser.add_argument("--status", action="append", default=[], help="a status (repeatable)")
    parser.add_argument("--workflow", action="append", default=[], help="a workflow (repeatable)")
    for name, flag in COUNT_FLAGS.items():
        what = COUNT_HELP.get(name, name)
        parser.add_argument(f"--min-{flag}", dest=f"{name}_min", help=f"at least this many {what}")
        parser.add_argument(f"--max-{flag}", dest=f"{name}_max", help=f"at most this many {what}")
    parser.add_argument("--since", help="created at or after (ISO date/time, UTC)")
    parser.add_argument("--until", help="created before (ISO date/time, UTC)")
    parser.add_argument("--search", default="", help="text in the run id, tags or input")
    parser.add_argument("--launched-by", help="who launched it (user@host for the CLI, an email, browser:…)")
    parser.add_argument(
        "--where",
        action="append",
        default=[],
        help='a field filter, e.g. "input.tasks >= 100", "metrics.accuracy > 0.9", '
        '"state.summary.label contains done", "input.goal is set" (repeatable)',
    )


def filter_from_args(args: argparse.Namespace) -> RunFilter:
    """The RunFilter of the filter flags (InputError, one sentence, for a bad value)."""
    counts: dict[str, Any] = {
        key: (parse_cost if key.startswith(COST) else parse_count)(
            value, "--" + ("min" if key.endswith("_min") else "max") + "-" + COUNT_FLAGS[key[:-4]]
        )
        for key, value in vars(args).items()
        if key.endswith(("_min", "_max")) and key[:-4] in COUNT_FLAGS and value is not None
    }
    filters = RunFilter(
        statuses=args.status,
        workflows=args.workflow,
        text=args.search,
        created_from=parse_time(args.since, "--since") if args.since is not None else None,
        created_to=parse_time(args.until, "--until") if args.until is not None else None,
        launched_by=args.launched_by,
        where=args.where,
        **counts,
    )
    for name in empty_ranges(filters):
        flag = COUNT_FLAGS[name]
        raise InputError(
            f"--min-{flag} {counts[name + '_min']} is more than --max-{flag} {counts[name + '_max']}: "
            "the range is empty, so no run could match; swap the two or drop one."
        )
    return filters


def _runs_arguments(parser: argparse.ArgumentParser) -> None:
    filter_arguments(parser)
    parser.add_argument(
        "--sort",
        default="created_at",
        help="column or field to sort by (input.tasks, metrics.accuracy); "
        "-name: descending, +name: ascending",
    )
    parser.add_argument("--asc", action="store_true", help="ascending (default: descending)")
    parser.add_argument(
        "--columns",
        default="",
        help="fields to show as more columns, separated by commas: input.tasks,state.summary.total,metrics.accuracy",
    )
    parser.add_argument("--limit", default="50", help="at most this many runs (default 50)")
    parser.add_argument("--offset", default="0", help="skip this many runs first")
    parser.add_argument("--json", action="store_true", help="print JSON")


@command("runs", "list runs with the dashboard's filters", _runs_arguments)
def cmd_runs(args: argparse.Namespace, config: OrchestratorConfig) -> int:
    filters = filter_from_args(args)
    sort, descending = sort_order(args.sort, not args.asc)
    sort_field(sort)  # a bad sort or column is refused before the database is opened
    fields = [f.name for f in checked_columns(args.columns)]
    limit, offset = parse_count(args.limit, "--limit", low=1), parse_count(args.offset, "--offset")
    orch = Orchestrator(reading(config))
    try:
        page = orch.store.query_runs(
            filters, sort=sort, descending=descending, limit=limit, offset=offset, columns=fields
        )
    finally:
        orch.engine.dispose()
    if args.json:
        print_json({"total": page.total, "runs": page.rows})
        return 0
    print(
        f"{'run_id':32}  {'workflow':14} {'status':14} {'created (UTC)':19} {'total':>6} {'done':>6} {'failed':>6}"
        f" {'work s':>9} {'wall s':>9} {'calls':>6} {'tokens':>10} {'cost':>12} {'warn':>5} {'err':>5}"
        + "".join(f"  {name}" for name in fields)
    )
    for run in page.rows:
        print(
            f"{run['run_id']:32}  {run['workflow'][:14]:14} {run['status']:14} "
            f"{run['created_at']:%Y-%m-%d %H:%M:%S} {run['tasks_total']:6} {run['tasks_completed']:6} {run['tasks_failed']:6}"
            f" {_seconds(run['work_seconds']):>9} {_seconds(run['wall_seconds']):>9}"
            f" {run['model_calls']:6} {run['tokens']:10} {cost_text(run['cost_usd']):>12}"
            f" {run['warnings']:5} {run['errors']:5}"
            + "".join(f"  {_cell(run.get(name)):>{len(name)}}" for name in fields)
        )
    print(f"{len(page.rows)} of {page.total} matching runs")
    return 0


def sort_order(text: str, descending: bool) -> tuple[str, bool]:
    """`--sort`: a name, `-name` (descending) or `+name` (ascending); else as `--asc` says."""
    if text.startswith(("-", "+")):
        return text[1:], text[0] == "-"
    return text, descending


def _cell(value: Any) -> str:
    """A field's value in the table: - for none, JSON for a list or an object."""
    if value is None:
        return "-"
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list | bool) else str(value)


def _seconds(value: float | None) -> str:
    """A duration for the table: seconds to the millisecond (as stored), or - when there is none."""
    return "-" if value is None else f"{value:.3f}"


def _run_id_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id")


def _show_arguments(parser: argparse.ArgumentParser) -> None:
    _run_id_argument(parser)
    parser.add_argument(
        "--checkpoints",
        action="store_true",
        help="also list the run's checkpoints (ids for `fork`, step, source, writers, next); "
        "read through LangGraph's saver, which takes longer to load",
    )


@command("show", "print one run as JSON, with its tasks, edits and model usage", _show_arguments)
def cmd_show(args: argparse.Namespace, config: OrchestratorConfig) -> int:
    orch = Orchestrator(reading(config))
    try:
        run = orch.get_run(args.run_id)
        tasks = orch.store.get_tasks(args.run_id)
        shown = {**run, "tasks": tasks}
        if args.checkpoints:
            # LangGraph's saver (and the langchain-core it imports): only when checkpoints are asked for.
            from orchestrator.history import checkpoint_history

            nodes = {t["task_id"]: t["node"] for t in tasks}
            history = checkpoint_history(orch.config, args.run_id, nodes, values=False)
            keys = ("checkpoint_id", "step", "source", "writers", "next")
            shown["checkpoints"] = [{k: h[k] for k in keys} for h in history]
        shown["edits"] = run_notes.edits(orch, args.run_id)
        # The run's row holds its model calls' totals; per node and model here.
        shown["model_usage"] = orch.observations.model_calls_by_node(args.run_id)
        print_json(shown)
    finally:
        orch.engine.dispose()
    return 0


def _operation(
    name: str,
    help_text: str,
    call: Callable[[Orchestrator, argparse.Namespace], Any],
    arguments: Callable[[argparse.ArgumentParser], None] = _run_id_argument,
    *,
    waits: bool = False,
) -> None:
    """A command that calls one operation and prints its outcome; with `waits`, it takes --wait."""

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        arguments(parser)
        if waits:
            add_wait(parser)

    def run(args: argparse.Namespace, config: OrchestratorConfig) -> int:
        orch = Orchestrator(config)
        outcome = call(orch, args)
        print(f"{name}: {outcome}")
        if waits and args.wait:
            run_id = outcome if name == "fork" else args.run_id
            if orch.get_run(run_id)["status"] in (RunStatus.QUEUED, RunStatus.RUNNING):
                return execute_here(orch, run_id)
        return 0

    command(name, help_text, add_arguments)(run)


def _approve_arguments(parser: argparse.ArgumentParser) -> None:
    _run_id_argument(parser)
    parser.add_argument(
        "--value",
        help="the answer as JSON; without it the question is approved as proposed "
        "(true, or an Agent Inbox accept); plan_execute takes the list of tasks",
    )
    parser.add_argument("--interrupt-id", help="which pending interrupt to answer")


def _respond_arguments(parser: argparse.ArgumentParser) -> None:
    _run_id_argument(parser)
    parser.add_argument(
        "--action", required=True, choices=list(HUMAN_ACTIONS), help="the Agent Inbox response"
    )
    parser.add_argument("--args", help="edit: the action's new arguments as JSON; response: the text")
    parser.add_argument("--interrupt-id", help="which pending interrupt to answer")


def _reject_arguments(parser: argparse.ArgumentParser) -> None:
    _run_id_argument(parser)
    parser.add_argument("--reason", default="", help="why; stored with the run, or given to the graph")
    parser.add_argument("--interrupt-id", help="which pending interrupt to refuse")


def _fork_arguments(parser: argparse.ArgumentParser) -> None:
    _run_id_argument(parser)
    parser.add_argument(
        "--checkpoint", required=True, help="the checkpoint id to continue from (`show RUN --checkpoints` lists them)"
    )
    parser.add_argument("--state", help="state keys to change there, as a JSON object")


def _respond(orch: Orchestrator, args: argparse.Namespace) -> str:
    pending = orch.pending_interrupts(args.run_id)
    asked = [p for p in pending if args.interrupt_id in (None, str(p["id"]))]
    if asked and all(human_request(p["value"]) is None for p in asked):
        raise InputError(
            f"Run {args.run_id} asks a plain question, not an Agent Inbox request: answer it with "
            f"`approve {args.run_id} --value '<JSON>'` (or refuse it with `reject`)."
        )
    raw = args.args
    value: Any = raw if args.action == "response" or raw is None else json_arg(raw, "--args")
    return orch.respond(
        args.run_id, args.action, value, interrupt_id=args.interrupt_id, answered_by=launcher()
    )


_operation(
    "approve",
    "answer a waiting run's interrupt (as proposed, or with --value) and let it continue",
    lambda o, a: o.approve(
        a.run_id, json_arg(a.value, "--value"), interrupt_id=a.interrupt_id, answered_by=launcher()
    ),
    _approve_arguments,
    waits=True,
)
_operation(
    "respond",
    "answer an Agent Inbox request: accept, edit, response or ignore",
    _respond,
    _respond_arguments,
    waits=True,
)
_operation(
    "reject",
    "refuse a waiting run's request: the graph gets the refusal if it takes one, else the run ends cancelled",
    lambda o, a: o.reject(a.run_id, a.reason, interrupt_id=a.interrupt_id, answered_by=launcher()),
    _reject_arguments,
    waits=True,
)
_operation(
    "fork",
    "start a new run from one of a run's checkpoints, its state changed with --state or as it was",
    lambda o, a: o.fork(a.run_id, a.checkpoint, json_arg(a.state, "--state"), launched_by=launcher()),
    _fork_arguments,
    waits=True,
)
def _presets_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["list", "save", "delete"], help="what to do")
    parser.add_argument("workflow", nargs="?", help="the workflow (list: optional)")
    parser.add_argument("name", nargs="?", help="the preset's name (save, delete)")
    parser.add_argument("--input", help="save: the input as a JSON object")
    parser.add_argument("--config", help="save: the configurable keys as a JSON object")
    parser.add_argument("--description", help="save: one line saying what it is for")
    parser.add_argument("--json", action="store_true", help="list: print JSON")


@command(
    "presets", "list, save or delete presets (a named input and config for a workflow)", _presets_arguments
)
def cmd_presets(args: argparse.Namespace, config: OrchestratorConfig) -> int:
    if args.action == "list":
        orch = Orchestrator(reading(config))
        found = orch.presets.list(args.workflow)
        if args.json:
            print_json(found)
        for preset in [] if args.json else found:
            print(f"{preset['workflow']}/{preset['name']}: input {preset['input']} config {preset['config']}")
        return 0
    if not args.workflow or not args.name:
        raise InputError(f"presets {args.action} needs a workflow and a name.")
    orch = Orchestrator(config)
    if args.action == "save":
        orch.save_preset(
            args.workflow,
            args.name,
            json_arg(args.input, "--input"),
            json_arg(args.config, "--config"),
            description=args.description,
            created_by=launcher(),
        )
        print(f"saved: {args.workflow}/{args.name}")
    else:
        print("deleted" if orch.presets.delete(args.workflow, args.name) else "nothing to delete")
    return 0
