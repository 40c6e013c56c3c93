"""What an executor may write about a run it holds: each write fenced by its claim.

Each write of the run's progress (task rows, counts, the end of an attempt) is one transaction
whose first statement updates the run's row only where `attempt` is still the claimed one and
the run is still `running`; when it changes nothing the executor has lost the run (`ClaimLost`)
and the transaction writes nothing. A `FencedRun` has no other writes: it is made by
`ClaimStore.fenced(claim)` and is all an executor holds to write a run with.

    >>> run = claim_store.fenced(claim)
    >>> run.record_task_events([TaskEvent("t1", "work", utcnow(), "start")])
    >>> run.finish(RunStatus.SUCCEEDED, snapshot={...})
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table, bindparam, delete, func, or_, select, update

from orchestrator.db import (
    run_logs,
    run_metrics,
    run_model_calls,
    run_task_io,
    run_tasks,
    runs,
    upsert,
    utcnow,
)
from orchestrator.db.dialect import db_now
from orchestrator.db.fast_insert import StoredRows, stored_rows, stored_utc
from orchestrator.errors import OrchestratorError
from orchestrator.observe.capture import LOG_COLUMNS, Pending, log_rows
from orchestrator.observe.redact import Redactor
from orchestrator.run_times import attempt_work, finished_values
from orchestrator.runs import RunStore
from orchestrator.status import FINAL, RunStatus, TaskStatus
from orchestrator.validation import storable_text

# Automatic resumes after database outages, per run, before it is left failed for a person.
MAX_AUTO_RETRIES = 5
# A task row that events may still change.
TASK_OPEN = (TaskStatus.RUNNING, TaskStatus.WAITING)
# Rows of an earlier attempt that a task's new execution replaces: it did not end there (it was
# cut off, never began its work, or asked a person and now runs again with the answer).
REPLACED_ON_RESUME = (
    TaskStatus.RUNNING,
    TaskStatus.WAITING,
    TaskStatus.INTERRUPTED,
    TaskStatus.CANCELLED,
    TaskStatus.AWAITING_INPUT,
)


class ClaimLost(OrchestratorError):
    """The run is no longer held by this claim: another executor took it over, or it was
    marked interrupted while this executor was cut off or paused."""


def _storable(text: str | None) -> str | None:
    """An error's text as both databases hold it (validation.storable_text): a node's exception
    may say anything."""
    return None if text is None else storable_text(text)


def _storable_call(call: dict[str, Any]) -> dict[str, Any]:
    """A model call's text fields as both databases hold them (a model's name and its error come
    from the model's library, or its provider)."""
    return {key: _storable(call.get(key)) for key in ("task_id", "node", "model", "error")}


@dataclass(frozen=True)
class Claim:
    """One executor's hold on one run: the run and the attempt number it claimed."""

    run_id: str
    attempt: int


@dataclass
class TaskEvent:
    """A task (one node execution) starting, waiting for a slot, starting its work, or ending, as
    the executor saw it."""

    task_id: str
    node: str
    at: dt.datetime
    kind: str  # "start", "wait" (for a concurrency slot), "work" (got its slot) or "end"
    step: int | None = None
    status: str | None = None  # for "end": succeeded, failed or awaiting_input
    error: str | None = None


@dataclass(frozen=True)
class TaskTruth:
    """What the checkpoints say of one task: its node and whether its writes were saved."""

    task_id: str
    node: str
    outcome: str  # succeeded (writes saved), failed (an error saved) or none
    error: str | None = None
    step: int | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None


@dataclass
class _Batch:
    """One batch of task events, merged per task: rows to insert, and changes to rows written
    by an earlier batch (task id -> the columns to set)."""

    new_rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)


def _merge(claim: Claim, events: Sequence[TaskEvent]) -> _Batch:
    batch = _Batch()
    for event in events:
        if event.kind == "start":
            batch.new_rows[event.task_id] = {
                "run_id": claim.run_id,
                "task_id": event.task_id,
                "attempt": claim.attempt,
                "node": event.node,
                "status": TaskStatus.RUNNING,
                "started_at": event.at,
                "work_started_at": None,
                "finished_at": None,
                "error": None,
                "step": event.step,
            }
            continue
        if event.kind == "wait":
            change: dict[str, Any] = {"status": TaskStatus.WAITING}
        elif event.kind == "work":
            change = {"status": TaskStatus.RUNNING, "work_started_at": event.at}
        else:
            change = {"status": event.status, "finished_at": event.at, "error": _storable(event.error)}
        row = batch.new_rows.get(event.task_id)
        if row is not None:
            row.update(change)
        else:
            batch.changes.setdefault(event.task_id, {}).update(change)
    return batch


class FencedRun:
    """The writes of one claimed run, each conditional on its claim (see the module docstring)."""

    def __init__(self, store: RunStore, claim: Claim, redactor: Redactor | None = None):
        self._store, self.claim = store, claim
        # What a task's stored input and output never hold (secret-named keys' values).
        self.redactor = redactor or Redactor()

    @property
    def run_id(self) -> str:
        return self.claim.run_id

    def _fence(self, conn: Connection, **values: Any) -> None:
        """Refresh the heartbeat (and set `values`) if this claim still holds the run, else raise
        ClaimLost."""
        held = conn.execute(
            update(runs)
            .where(
                runs.c.run_id == self.claim.run_id,
                runs.c.attempt == self.claim.attempt,
                runs.c.status == RunStatus.RUNNING,
            )
            .values(heartbeat_at=db_now(), **values)
        ).rowcount
        if not held:
            raise ClaimLost(f"Run {self.claim.run_id} is no longer held by attempt {self.claim.attempt}.")

    # -- progress ---------------------------------------------------------------------------

    def record_task_events(self, events: Sequence[TaskEvent], observed: Pending | None = None) -> None:
        """Write a batch of task starts, waits, work starts and ends, then recount the run's tasks;
        and what the tasks logged and their model calls (`observed`), adding to the run's counts.

        A task whose result a checkpoint already holds is announced again by LangGraph when a
        run resumes; its succeeded row stays as it is. A task cut off by a crash (running or
        interrupted in an earlier attempt) is replaced by its new execution; a task that failed
        in an earlier attempt keeps that record beside the new one.
        """
        if not events and not observed:
            return
        batch = _merge(self.claim, events)
        # The rows are made before the transaction: on SQLite it holds the one write lock, which
        # the saver's checkpoint writes wait for.
        rows = self._observed_rows(observed) if observed else None
        with self._store.transaction() as conn:
            self._fence(conn, **self._observed_counts(observed))
            if rows:
                self._insert_observed(conn, rows)
            if not events:
                return
            if batch.new_rows:
                self._insert_started(conn, batch.new_rows)
            # One executemany per set of columns changed (waits; work starts; ends; or a mix).
            by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for task_id, change in batch.changes.items():
                columns = tuple(sorted(change))
                by_columns.setdefault(columns, []).append(
                    {"t_id": task_id, **{f"t_{c}": v for c, v in change.items()}}
                )
            for columns, params in by_columns.items():
                conn.execute(
                    update(run_tasks)
                    .where(
                        run_tasks.c.run_id == self.claim.run_id,
                        run_tasks.c.attempt == self.claim.attempt,
                        run_tasks.c.task_id == bindparam("t_id"),
                        # A row already ended (a late wait or work event) stays as it ended.
                        # (Not IN: an executemany takes no expanding parameter.)
                        or_(*(run_tasks.c.status == status for status in TASK_OPEN)),
                    )
                    .values({c: bindparam(f"t_{c}") for c in columns}),
                    params,
                )
            conn.execute(self._store.recount(self.claim.run_id))

    @staticmethod
    def _observed_counts(observed: Pending | None) -> dict[str, Any]:
        """The run's counts to add for a batch of observations (none: nothing to add)."""
        if not observed:
            return {}
        counts: dict[str, Any] = {}
        for column, amount in (
            ("warnings", observed.warnings),
            ("errors", observed.errors),
            ("model_calls", len(observed.calls)),
            ("input_tokens", sum(c["input_tokens"] for c in observed.calls)),
            ("output_tokens", sum(c["output_tokens"] for c in observed.calls)),
            ("cost_usd", sum(c["cost_usd"] or 0.0 for c in observed.calls)),
        ):
            if amount:
                counts[column] = runs.c[column] + amount
        return counts

    def _observed_rows(self, observed: Pending) -> dict[Table, Any]:
        """The rows of a batch of observations, by table (inputs and outputs made safe here, in
        the writer's thread: bounded, secret-named keys redacted)."""
        mine = {"run_id": self.claim.run_id, "attempt": self.claim.attempt}
        io = {
            task_id: {
                **mine,
                "task_id": task_id,
                "input": self.redactor.redacted(given),
                "output": self.redactor.redacted(wrote),
            }
            for task_id, given, wrote in observed.io
        }
        dialect = self._store.engine.dialect
        lines = log_rows(self.claim.run_id, self.claim.attempt, observed.logs, stored_utc(dialect))
        return {
            # The log lines, the many rows: ready for the driver before the transaction (fast_insert).
            run_logs: stored_rows(dialect, run_logs, LOG_COLUMNS, lines),
            run_model_calls: [{**mine, **call, **_storable_call(call)} for call in observed.calls],
            run_task_io: list(io.values()),
        }

    @staticmethod
    def _insert_observed(conn: Connection, rows: dict[Table, Any]) -> None:
        for table, table_rows in rows.items():
            if isinstance(table_rows, StoredRows):
                table_rows.insert(conn)
            elif not table_rows:
                continue
            elif table is run_task_io:
                upsert(conn, table, table_rows, ("run_id", "task_id", "attempt"))
            else:
                conn.execute(table.insert(), table_rows)

    def _insert_started(self, conn: Connection, new_rows: dict[str, dict[str, Any]]) -> None:
        ids = list(new_rows)
        done = set(
            conn.execute(
                select(run_tasks.c.task_id).where(
                    run_tasks.c.run_id == self.claim.run_id,
                    run_tasks.c.task_id.in_(ids),
                    run_tasks.c.status == TaskStatus.SUCCEEDED,
                )
            ).scalars()
        )
        fresh = [row for task_id, row in new_rows.items() if task_id not in done]
        if not fresh:
            return
        if self.claim.attempt > 1:  # only a resumed run has rows of an earlier attempt to replace
            conn.execute(
                delete(run_tasks).where(
                    run_tasks.c.run_id == self.claim.run_id,
                    run_tasks.c.task_id.in_([row["task_id"] for row in fresh]),
                    run_tasks.c.attempt < self.claim.attempt,
                    run_tasks.c.status.in_(REPLACED_ON_RESUME),
                )
            )
        upsert(
            conn,
            run_tasks,
            fresh,
            ("run_id", "task_id", "attempt"),
            run_tasks.c.status != TaskStatus.SUCCEEDED,
        )

    def reconcile_tasks(self, truth: Iterable[TaskTruth]) -> None:
        """Make the task rows say what the checkpoints say really ran, before a resumed run goes on.

        A task whose writes were saved is succeeded (its end may never have been written); a
        task whose error was saved is failed; a row that claims success for writes that were
        never saved, and a row still running from an earlier attempt, were cut off: interrupted;
        a row still waiting for a slot never began its work: cancelled. Tasks the checkpoints
        know but no row records (a crash before the first batch) get one.
        """
        by_id = {t.task_id: t for t in truth}
        previous = max(1, self.claim.attempt - 1)
        with self._store.transaction() as conn:
            self._fence(conn)
            rows = conn.execute(select(run_tasks).where(run_tasks.c.run_id == self.claim.run_id)).all()
            by_task: dict[str, list[Any]] = {}
            for row in rows:
                by_task.setdefault(row.task_id, []).append(row)
            for row in rows:
                known = by_id.get(row.task_id)
                saved = known is not None and known.outcome == TaskStatus.SUCCEEDED
                if row.status == TaskStatus.RUNNING or (row.status == TaskStatus.SUCCEEDED and not saved):
                    self._set_task(conn, row, TaskStatus.INTERRUPTED, None)
                elif row.status == TaskStatus.WAITING:
                    self._set_task(conn, row, TaskStatus.CANCELLED, None)
            for task in by_id.values():
                if task.outcome not in (TaskStatus.SUCCEEDED, TaskStatus.FAILED):
                    continue
                mine = sorted(by_task.get(task.task_id, []), key=lambda r: r.attempt)
                if any(r.status == task.outcome for r in mine):
                    continue
                open_rows = [r for r in mine if r.status in REPLACED_ON_RESUME]
                if open_rows:
                    self._set_task(conn, open_rows[-1], task.outcome, _storable(task.error), task.finished_at)
                elif not mine or task.outcome == TaskStatus.FAILED:
                    at = task.started_at or utcnow()
                    conn.execute(
                        run_tasks.insert().values(
                            run_id=self.claim.run_id,
                            task_id=task.task_id,
                            attempt=previous if not mine else max(r.attempt for r in mine) + 1,
                            node=task.node,
                            status=task.outcome,
                            started_at=at,
                            finished_at=task.finished_at or at,
                            error=_storable(task.error),
                            step=task.step,
                        )
                    )
            conn.execute(self._store.recount(self.claim.run_id))

    @staticmethod
    def _set_task(
        conn: Connection, row: Any, status: str, error: str | None, finished_at: dt.datetime | None = None
    ) -> None:
        conn.execute(
            update(run_tasks)
            .where(
                run_tasks.c.run_id == row.run_id,
                run_tasks.c.task_id == row.task_id,
                run_tasks.c.attempt == row.attempt,
            )
            .values(
                status=status,
                error=error
                if status == TaskStatus.FAILED
                else row.error
                if status != TaskStatus.SUCCEEDED
                else None,
                finished_at=func.coalesce(run_tasks.c.finished_at, finished_at or utcnow()),
            )
        )

    def record_metrics(self, values: Sequence[tuple[str, float, int | None]]) -> None:
        """Metrics' values (name, value, step; None: one past the name's last step) as rows of
        run_metrics, and each name's value at its highest step as `metrics.<name>` on the run,
        in one transaction (run_metrics.record_metric)."""
        with self._store.transaction() as conn:
            self._fence(conn)  # also holds the run's row until the end of the transaction
            names = sorted({name for name, _, _ in values})
            last: dict[str, int] = dict(
                conn.execute(
                    select(run_metrics.c.name, func.max(run_metrics.c.step))
                    .where(run_metrics.c.run_id == self.run_id, run_metrics.c.name.in_(names))
                    .group_by(run_metrics.c.name)
                ).all()
            )
            latest = dict(
                conn.execute(select(runs.c.metrics).where(runs.c.run_id == self.run_id)).scalar_one() or {}
            )
            rows: dict[tuple[str, int], dict[str, Any]] = {}
            for name, value, step in values:
                at = last.get(name, -1) + 1 if step is None else step
                rows[(name, at)] = {
                    "run_id": self.run_id,
                    "name": name,
                    "step": at,
                    "value": value,
                    "at": utcnow(),
                }
                if at >= last.get(name, -1):
                    last[name] = at
                    latest[name] = value
            upsert(conn, run_metrics, list(rows.values()), ("run_id", "name", "step"))
            conn.execute(update(runs).where(runs.c.run_id == self.run_id).values(metrics=latest))

    # -- ending -----------------------------------------------------------------------------

    def finish(self, status: RunStatus, *, snapshot: Any = None, error: str | None = None) -> bool:
        """End the claimed run's attempt with `status` (a final one, or awaiting_input).

        Open tasks of this attempt are closed (interrupted while they worked, cancelled while
        they waited), the answer it carried to an interrupt is consumed, and the attempt's running
        time is added to the run's work. False when the claim was lost (nothing is written then).
        """
        values: dict[str, Any] = {"status": status, "error": _storable(error), "resume_value": None}
        if status != RunStatus.AWAITING_INPUT:
            values.update(finished_values())
        if snapshot is not None:
            values["state_snapshot"] = snapshot
        return self._end(values)

    def release(
        self, *, snapshot: Any = None, reason: str | None = None, auto_retry: bool = False
    ) -> RunStatus | None:
        """Give the claimed run back to the queue (shutdown, or an outage when `auto_retry`).

        After MAX_AUTO_RETRIES automatic resumes the run is left `failed` with the reason
        instead. Returns the run's new status, or None when the claim was lost.
        """
        values: dict[str, Any] = {"status": RunStatus.QUEUED, "worker": None, "error": reason}
        if snapshot is not None:
            values["state_snapshot"] = snapshot
        if auto_retry:
            run = self._store.get_run(self.claim.run_id)
            if run is not None and run["auto_retries"] >= MAX_AUTO_RETRIES:
                values.update(
                    status=RunStatus.FAILED,
                    error=f"{reason} It was not resumed again after {MAX_AUTO_RETRIES} automatic resumes; "
                    "resume it when the database is healthy.",
                    **finished_values(),
                )
            else:
                values["auto_retries"] = runs.c.auto_retries + 1
        return values["status"] if self._end(values) else None

    def _end(self, values: dict[str, Any]) -> bool:
        """End the attempt: `values`, the attempt's running time added to the run's work, its
        open tasks closed (and, at a final status, every task still waiting for a person)."""
        final = values["status"] in FINAL
        try:
            with self._store.transaction() as conn:
                self._fence(conn)
                conn.execute(
                    update(runs)
                    .where(runs.c.run_id == self.claim.run_id)
                    .values(**values, work_seconds=attempt_work())
                )
                self._store.close_open_tasks(conn, self.claim.run_id, None if final else self.claim.attempt)
                conn.execute(self._store.recount(self.claim.run_id))
        except ClaimLost:
            return False
        return True
