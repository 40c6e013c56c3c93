"""CLI commands that act on one run or many: cancel, resume, rerun, delete, tag; and note.

`cancel RUN` acts on one run, as it always did; `cancel RUN RUN ...` on several, and
`cancel --status failed --workflow simulate` on every run matching the `runs` command's filters
(at most orchestrator.bulk.MAX_BULK). A run whose status does not allow the action is skipped
and counted. `--dry-run` says what would happen; a filter acts only with `--yes`.
"""

from __future__ import annotations

import argparse
from typing import Any

from orchestrator import bulk, run_notes
from orchestrator.cli.base import add_wait, command, execute_here
from orchestrator.cli.runs import filter_arguments, filter_from_args, launcher
from orchestrator.config import OrchestratorConfig
from orchestrator.errors import InputError
from orchestrator.operations import Orchestrator
from orchestrator.run_queries import RunFilter
from orchestrator.status import Action, RunStatus

_EMPTY = RunFilter()


def _one(action: Action, orch: Orchestrator, run_id: str, args: argparse.Namespace) -> Any:
    if action == Action.TAG:
        tags = run_notes.edit_tags(orch, run_id, args.add, args.remove, by=launcher())
        return ", ".join(tags) or "(none)"
    if action == Action.CANCEL:
        return orch.cancel(run_id)
    if action == Action.RESUME:
        return orch.resume(run_id)
    if action == Action.RERUN:
        return orch.rerun(run_id)
    return "deleted" if orch.delete(run_id) else "nothing to delete"


def _register(action: Action, help_text: str, *, waits: bool = False) -> None:
    name = str(action)

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("run_id", nargs="*", help="one run id, or several")
        filter_arguments(parser)
        parser.add_argument(
            "--dry-run", action="store_true", help="say what would happen, by status, and change nothing"
        )
        parser.add_argument("--yes", action="store_true", help="act on every run the filters match")
        if action == Action.TAG:
            parser.add_argument("--add", action="append", default=[], help="a tag to add (repeatable)")
            parser.add_argument("--remove", action="append", default=[], help="a tag to remove (repeatable)")
        if waits:
            add_wait(parser)

    def run(args: argparse.Namespace, config: OrchestratorConfig) -> int:
        filters = filter_from_args(args)
        if args.run_id and filters != _EMPTY:
            raise InputError(f"Give {name} run ids or filters, not both.")
        if not args.run_id and filters == _EMPTY:
            raise InputError(
                f"Give {name} a run id, several, or filters (as for `runs`: --status, --workflow, --since, ...)."
            )
        if len(args.run_id) == 1 and not args.dry_run:
            return _single(action, config, args)
        if filters != _EMPTY and not (args.dry_run or args.yes):
            raise InputError(
                f"A {name} by filter acts on every matching run: look first with --dry-run, then add --yes."
            )
        orch = Orchestrator(config)
        try:
            targets: list[str] | RunFilter = args.run_id or filters
            tags = {"add_tags": args.add, "remove_tags": args.remove} if action == Action.TAG else {}
            outcome = bulk.apply(orch, action, targets, dry_run=args.dry_run, by=launcher(), **tags)
        finally:
            orch.engine.dispose()
        print(outcome.sentence())
        if args.dry_run:
            for run_id in outcome.run_ids:
                print(f"would {bulk.verb(action)}: {run_id}")
        for run_id, new_id in zip(outcome.run_ids, outcome.new_run_ids, strict=False):
            print(f"{name}: {run_id} -> {new_id}")
        for run_id, why in outcome.failed.items():
            print(f"failed: {run_id}: {why}")
        return 1 if outcome.failed else 0

    def _single(action: Action, config: OrchestratorConfig, args: argparse.Namespace) -> int:
        orch = Orchestrator(config)
        run_id = args.run_id[0]
        outcome = _one(action, orch, run_id, args)
        print(f"{name}: {outcome}")
        if waits and args.wait:
            target = outcome if action == Action.RERUN else run_id
            if orch.get_run(target)["status"] in (RunStatus.QUEUED, RunStatus.RUNNING):
                return execute_here(orch, target)
        return 0

    command(name, help_text, add_arguments)(run)


_BULK: list[tuple[Action, str, bool]] = [
    (Action.CANCEL, "cancel a queued, running or waiting run (or many: ids or filters)", False),
    (Action.RESUME, "continue an interrupted or failed run from its last checkpoint (or many)", True),
    (Action.RERUN, "queue a new run with the same workflow, input, config and tags (or many)", True),
    (Action.DELETE, "delete a run, its tasks and its checkpoints (or many: ids or filters)", False),
    (Action.TAG, "add or remove a run's tags (or many: ids or filters): --add x --remove y", False),
]
for _action, _help, _waits in _BULK:
    _register(_action, _help, waits=_waits)


def _note_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id")
    parser.add_argument("--text", required=True, help='the note, markdown ("" removes it)')


@command("note", "write a run's note (markdown; who wrote it and when is kept)", _note_arguments)
def cmd_note(args: argparse.Namespace, config: OrchestratorConfig) -> int:
    orch = Orchestrator(config)
    try:
        note = run_notes.set_note(orch, args.run_id, args.text, by=launcher())
    finally:
        orch.engine.dispose()
    print("note: saved" if note else "note: removed")
    return 0
