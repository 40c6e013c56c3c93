"""Retention by age: a finished run's logs, task inputs/outputs and model calls, cut once it
finished more than N days ago (`prune --logs-older-than 30d`, or ORCHESTRATOR_LOG_RETENTION_DAYS
applied by every worker once an hour).

What stays: the run, its tasks, checkpoints and its counts on the row (warnings, errors, model
calls, tokens, cost), which say what happened and keep the runs page, the CSV, compare and the
overview's cost per day as they were. What the run keeps in place of what was cut: one line in
its logs (logger RETENTION_LOGGER, INFO, no task) saying what was cut and when, so run detail
and `logs` say why a task shows no lines and the model-calls table is empty.

A run is cut by the time it finished (`ix_runs_finished_at`), only once it is final, BATCH runs a
transaction; a run cut before is not chosen again (its only line is the mark).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass

from sqlalchemy import Engine, and_, delete, exists, insert, select

from orchestrator.db import run_logs, run_model_calls, run_task_io, runs, utcnow
from orchestrator.errors import InputError
from orchestrator.status import FINAL

RETENTION_LOGGER = "orchestrator.retention"
BATCH = 500
MAX_DAYS = 100_000
_AGE = re.compile(r"\s*(\d{1,6})\s*(d|days?)?\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Pruned:
    """What one prune cut: runs touched, and the rows of each kind deleted."""

    runs: int = 0
    log_lines: int = 0
    model_calls: int = 0
    task_io: int = 0

    def __add__(self, other: Pruned) -> Pruned:
        return Pruned(
            self.runs + other.runs,
            self.log_lines + other.log_lines,
            self.model_calls + other.model_calls,
            self.task_io + other.task_io,
        )


def parse_age(raw: str, name: str) -> int:
    """An age in whole days typed as `30d`, `30 days` or `30`; InputError naming `name` otherwise."""
    found = _AGE.fullmatch(raw or "")
    if not found or not 1 <= int(found.group(1)) <= MAX_DAYS:
        raise InputError(f"{name} must be a number of days from 1 to {MAX_DAYS}, such as 30d.")
    return int(found.group(1))


def _has_observations() -> list[object]:
    run_id = runs.c.run_id
    return [
        exists().where(run_logs.c.run_id == run_id, run_logs.c.logger != RETENTION_LOGGER)
        | exists().where(run_model_calls.c.run_id == run_id)
        | exists().where(run_task_io.c.run_id == run_id)
    ]


def prune_observations(engine: Engine, days: int, *, now: dt.datetime | None = None) -> Pruned:
    """Cut the logs, task inputs/outputs and model calls of the final runs that finished more
    than `days` days before `now`, leaving each run one line that says so."""
    now = now or utcnow()
    cutoff = now - dt.timedelta(days=days)
    chosen = (
        select(runs.c.run_id)
        .where(
            and_(runs.c.finished_at < cutoff, runs.c.status.in_([str(s) for s in FINAL])),
            *_has_observations(),  # type: ignore[arg-type]
        )
        .order_by(runs.c.finished_at)
        .limit(BATCH)
    )
    total = Pruned()
    while True:
        # A write transaction from its start (SQLite: BEGIN IMMEDIATE): one that read first could
        # not take the write lock once an executor had written since, and failed at once.
        with engine.connect() as conn, conn.execution_options(sqlite_write=True).begin():
            ids = list(conn.execute(chosen).scalars())
            if not ids:
                return total
            lines = conn.execute(
                delete(run_logs).where(run_logs.c.run_id.in_(ids), run_logs.c.logger != RETENTION_LOGGER)
            ).rowcount
            calls = conn.execute(delete(run_model_calls).where(run_model_calls.c.run_id.in_(ids))).rowcount
            io = conn.execute(delete(run_task_io).where(run_task_io.c.run_id.in_(ids))).rowcount
            conn.execute(
                insert(run_logs),
                [
                    {
                        "run_id": run_id,
                        "task_id": "",
                        "node": "",
                        "attempt": 0,
                        "at": now,
                        "level": logging.INFO,
                        "logger": RETENTION_LOGGER,
                        "message": f"Its logs, task inputs and outputs and model calls were cut on "
                        f"{now:%Y-%m-%d} ({days} days after it finished, retention); its counts "
                        "of warnings, errors, model calls, tokens and cost are as they were.",
                    }
                    for run_id in ids
                ],
            )
        total = total + Pruned(len(ids), lines, calls, io)
