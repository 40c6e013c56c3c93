"""CLI commands that move runs: export, import, migrate (orchestrator.transfer does the work)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from orchestrator.cli.base import command, reading
from orchestrator.cli.runs import filter_arguments, filter_from_args
from orchestrator.config import OrchestratorConfig

# orchestrator.transfer (the savers, LangGraph) is imported by the command that runs, not by the
# command table: `runs` and `--help` start without it.


def _progress(label: str, total: int | None = None) -> Callable[[int], None] | None:
    """A progress line on a terminal (none when the output goes to a file or a pipe)."""
    if not sys.stderr.isatty():
        return None
    done = 0

    def step(n: int) -> None:
        nonlocal done
        done += n
        of = f"/{total}" if total else ""
        sys.stderr.write(f"\r{label}: {done}{of} runs")
        sys.stderr.flush()

    return step


def _export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="the file to write (gzip when it ends in .gz)")
    filter_arguments(parser)


@command(
    "export", "write runs with their tasks and checkpoints to a file (the runs filters)", _export_arguments
)
def cmd_export(args: argparse.Namespace, config: OrchestratorConfig) -> int:
    from orchestrator.transfer import export_runs

    filters = filter_from_args(args)
    started = time.perf_counter()
    outcome = export_runs(reading(config), args.out, filters, progress=_progress("exported"))
    seconds = time.perf_counter() - started
    print(
        f"exported {outcome.runs} runs, {outcome.checkpoints} checkpoints and {outcome.writes} writes "
        f"to {outcome.path} in {seconds:.1f} s"
    )
    return 0


def _import_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="a file written by export (.gz: gzip)")
    parser.add_argument(
        "--on-conflict",
        choices=("skip", "replace"),
        help="a run already here with other content: keep it (skip) or replace it (default: import nothing)",
    )


@command("import", "load runs from an export file into the configured backend", _import_arguments)
def cmd_import(args: argparse.Namespace, config: OrchestratorConfig) -> int:
    started = time.perf_counter()
    from orchestrator.transfer import import_file

    outcome = import_file(config, args.file, on_conflict=args.on_conflict, progress=_progress("imported"))
    seconds = time.perf_counter() - started
    print(
        f"imported {len(outcome.imported)} runs ({outcome.checkpoints} checkpoints, {outcome.writes} writes), "
        f"replaced {len(outcome.replaced)}, {len(outcome.unchanged)} already here unchanged, "
        f"in {seconds:.1f} s"
    )
    for run_id in outcome.conflicts:
        print(f"skipped {run_id}: already here with other content")
    return 0


def _migrate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--to", required=True, choices=("sqlite", "postgres"), help="the backend to copy to")
    parser.add_argument("--dry-run", action="store_true", help="say what would move (counts only)")
    parser.add_argument(
        "--include-active",
        action="store_true",
        help="move queued, running and waiting runs too (their source copies are marked moved)",
    )
    parser.add_argument(
        "--on-conflict",
        choices=("skip", "replace"),
        help="a run already on the target with other content: keep it or replace it (default: report it)",
    )
    parser.add_argument("--batch", type=int, default=200, help="runs read per batch (default 200)")


@command(
    "migrate",
    "copy every run from the configured backend to the other one (--to), then verify both",
    _migrate_arguments,
)
def cmd_migrate(args: argparse.Namespace, config: OrchestratorConfig) -> int:
    from orchestrator.transfer import migrate, target_config

    started = time.perf_counter()
    outcome = migrate(
        config,
        target_config(config, args.to),
        dry_run=args.dry_run,
        include_active=args.include_active,
        on_conflict=args.on_conflict,
        batch=max(1, args.batch),
        progress=_progress("copied"),
    )
    print(f"from: {outcome.source}")
    print(f"to:   {outcome.target}")
    if outcome.dry_run:
        print(f"would copy {outcome.runs} runs ({outcome.active} of them active); nothing was written")
        return 0
    load, check = outcome.load, outcome.verification
    assert check is not None
    seconds = time.perf_counter() - started
    print(
        f"copied {len(load.imported) + len(load.replaced)} runs ({load.checkpoints} checkpoints, "
        f"{load.writes} writes); {len(load.unchanged)} were already there"
    )
    print(
        f"verified {check.runs} runs and {check.checkpoints} checkpoints: "
        f"{len(check.differences)} differences, in {seconds:.1f} s"
    )
    for run_id in load.conflicts:
        print(
            f"skipped {run_id}: on the target with other content (--on-conflict skip|replace)",
            file=sys.stderr,
        )
    if check.only_on_target:
        print(f"note: the target has {check.only_on_target} more runs of its own")
    for problem in check.differences:
        print(f"difference: {problem}", file=sys.stderr)
    return 0 if check.ok else 1
