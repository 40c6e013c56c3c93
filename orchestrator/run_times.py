"""How long a run and a task took, as SQL expressions on the database's clock: one definition
that every figure (run detail, the runs table, compare, the CSV, the CLI) reads, and that the
rollup triggers of migration 0014 mirror."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, null

from orchestrator.db import db_now, run_tasks, runs, seconds_between
from orchestrator.status import TaskStatus

# A task's work time: from when its work began (it got its concurrency slot; else when it started)
# to its end; none for a task cancelled before its work began. The node rollup's triggers
# (migration 0014) time tasks the same way.
task_seconds = case(
    (run_tasks.c.status == TaskStatus.CANCELLED, null()),
    else_=seconds_between(
        func.coalesce(run_tasks.c.work_started_at, run_tasks.c.started_at), run_tasks.c.finished_at
    ),
)
# Its wait for a slot: from its start to its work's start (cancelled before that: to its end;
# still waiting: none yet).
task_wait_seconds = seconds_between(
    run_tasks.c.started_at,
    func.coalesce(
        run_tasks.c.work_started_at,
        case((run_tasks.c.status == TaskStatus.CANCELLED, run_tasks.c.finished_at), else_=null()),
    ),
)



def finished_values() -> dict[str, Any]:
    """`finished_at` now and `wall_seconds` from the row's own `started_at` (None if it never
    started), both by the database's clock, as `started_at` is."""
    return {"finished_at": db_now(), "wall_seconds": seconds_between(runs.c.started_at, db_now())}


def attempt_work() -> Any:
    """The run's work with its current attempt's running time added (by the database's clock):
    for the statement that ends the attempt."""
    return func.coalesce(runs.c.work_seconds, 0.0) + func.coalesce(
        seconds_between(runs.c.attempt_started_at, db_now()), 0.0
    )


def row_with_times(row: dict[str, Any]) -> dict[str, Any]:
    """The row with `wall_seconds` and `work_seconds` set (every row of an executemany needs the
    same keys): wall from its start and finish; a row that gives no work time worked its wall
    time, as migration 0014 takes it for a run that recorded no task."""
    wall = row.get("wall_seconds")
    if "wall_seconds" not in row:
        started, finished = row.get("started_at"), row.get("finished_at")
        wall = (finished - started).total_seconds() if started and finished else None
    return {**row, "wall_seconds": wall, "work_seconds": row.get("work_seconds", wall)}
