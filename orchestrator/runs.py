"""RunStore: the one door to the `runs` and `run_tasks` tables.

Every method is one SQL statement (or one short transaction) built with SQLAlchemy Core and
bound parameters; filtering, sorting, paging and aggregation happen in the database.

    >>> store = RunStore(make_engine(OrchestratorConfig()))
    >>> run_id = store.create_run("simulate", {"tasks": 3})
    >>> store.query_runs(RunFilter(statuses=["queued"]), limit=20).total
    1
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, delete, func, insert, literal, or_, select, update

from orchestrator.db import (
    UTCDateTime,
    json_text,
    run_tasks,
    runs,
    seconds_between,
    upsert,
    utcnow,
)
from orchestrator.errors import InputError, ReadOnlyError
from orchestrator.status import ALL_STATUSES, FINAL
from orchestrator.validation import (
    check_count,
    check_name,
    check_page,
    check_search,
    check_time,
    is_run_id,
    shown,
)

# What the runs list shows (state_snapshot and input stay out: they can be large).
LIST_COLUMNS = (
    runs.c.run_id,
    runs.c.workflow,
    runs.c.status,
    runs.c.created_at,
    runs.c.started_at,
    runs.c.finished_at,
    runs.c.duration_seconds,
    runs.c.tasks_total,
    runs.c.tasks_completed,
    runs.c.tasks_failed,
    runs.c.tags,
    runs.c.worker,
    runs.c.heartbeat_at,
    runs.c.launched_by,
)

SORT_COLUMNS: dict[str, Any] = {
    "created_at": runs.c.created_at,
    "started_at": runs.c.started_at,
    "finished_at": runs.c.finished_at,
    "duration_seconds": runs.c.duration_seconds,
    "run_id": runs.c.run_id,
    "workflow": runs.c.workflow,
    "status": runs.c.status,
    "tasks_total": runs.c.tasks_total,
    "tasks_completed": runs.c.tasks_completed,
    "tasks_failed": runs.c.tasks_failed,
    "tags": json_text(runs.c.tags),
    "worker": runs.c.worker,
}
NULLABLE_SORTS = {"started_at", "finished_at", "duration_seconds", "tags", "worker"}
TASK_COUNTS = ("tasks_total", "tasks_completed", "tasks_failed")


@dataclass
class RunFilter:
    """The dashboard's filters; empty or None means "no filter on this"."""

    statuses: Sequence[str] = ()
    workflows: Sequence[str] = ()
    tasks_total_min: int | None = None
    tasks_total_max: int | None = None
    tasks_completed_min: int | None = None
    tasks_completed_max: int | None = None
    tasks_failed_min: int | None = None
    tasks_failed_max: int | None = None
    created_from: dt.datetime | None = None
    created_to: dt.datetime | None = None
    text: str = ""
    launched_by: str | None = None

    def __post_init__(self) -> None:
        """Check every filter against the package's limits (orchestrator.validation): one sentence each."""
        if isinstance(self.statuses, str) or isinstance(self.workflows, str):
            raise InputError("statuses and workflows must be lists of names, not a single text.")
        self.statuses = [check_name(s, "A status") for s in self.statuses]
        unknown = [s for s in self.statuses if s not in ALL_STATUSES]
        if unknown:
            raise InputError(f"Unknown status {shown(unknown[0])}; choose from {', '.join(ALL_STATUSES)}.")
        self.workflows = [check_name(w, "A workflow name") for w in self.workflows]
        for name in TASK_COUNTS:
            for bound in ("min", "max"):
                value = getattr(self, f"{name}_{bound}")
                if value is not None:
                    setattr(self, f"{name}_{bound}", check_count(value, f"{name}_{bound}"))
        if self.created_from is not None:
            self.created_from = check_time(self.created_from, "The created-from time")
        if self.created_to is not None:
            self.created_to = check_time(self.created_to, "The created-to time")
        self.text = check_search(self.text)
        if self.launched_by is not None:
            self.launched_by = check_name(self.launched_by, "launched_by")

    def conditions(self) -> list[Any]:
        """The WHERE clauses, each with bound parameters."""
        conds: list[Any] = []
        if self.statuses:
            conds.append(runs.c.status.in_(list(self.statuses)))
        if self.workflows:
            conds.append(runs.c.workflow.in_(list(self.workflows)))
        for name in TASK_COUNTS:
            low, high = getattr(self, f"{name}_min"), getattr(self, f"{name}_max")
            if low is not None:
                conds.append(runs.c[name] >= low)
            if high is not None:
                conds.append(runs.c[name] <= high)
        if self.launched_by is not None:
            conds.append(runs.c.launched_by == self.launched_by)
        if self.created_from is not None:
            conds.append(runs.c.created_at >= self.created_from)
        if self.created_to is not None:
            conds.append(runs.c.created_at < self.created_to)
        text = self.text.strip()
        if text:
            conds.append(
                or_(
                    runs.c.run_id.icontains(text, autoescape=True),
                    json_text(runs.c.tags).icontains(text, autoescape=True),
                    json_text(runs.c.input).icontains(text, autoescape=True),
                )
            )
        return conds


@dataclass
class RunPage:
    """One page of runs and the number of runs that match the filter."""

    rows: list[dict[str, Any]]
    total: int


@dataclass
class TaskEvent:
    """A task (one node execution) starting or ending, as the executor saw it."""

    task_id: str
    node: str
    at: dt.datetime
    kind: str  # "start" or "end"
    step: int | None = None
    status: str | None = None  # for "end": succeeded, failed or interrupted
    error: str | None = None


@dataclass
class _TaskRow:
    values: dict[str, Any] = field(default_factory=dict)
    started_here: bool = False


def new_run_id() -> str:
    return uuid.uuid4().hex


def finished_values(at: dt.datetime) -> dict[str, Any]:
    """`finished_at` and the `duration_seconds` from the row's own `started_at` (None if it never started)."""
    return {
        "finished_at": at,
        "duration_seconds": seconds_between(runs.c.started_at, literal(at, UTCDateTime)),
    }


def _with_duration(row: dict[str, Any]) -> dict[str, Any]:
    """The row with `duration_seconds` set (every row of an executemany needs the same keys)."""
    if "duration_seconds" in row:
        return row
    started, finished = row.get("started_at"), row.get("finished_at")
    duration = (finished - started).total_seconds() if started and finished else None
    return {**row, "duration_seconds": duration}


class RunStore:
    """Create, update, query and aggregate runs (SQLAlchemy Core over one engine)."""

    def __init__(self, engine: Engine, *, read_only: bool = False):
        """With `read_only`, every write raises ReadOnlyError before a transaction is opened."""
        self.engine = engine
        self.read_only = read_only

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        if self.read_only:
            raise ReadOnlyError(
                "This orchestrator is read-only (ORCHESTRATOR_READ_ONLY is set) and changes no run; "
                "use a writable deployment to make this change."
            )
        with self.engine.connect() as conn:
            conn.execution_options(sqlite_write=True)
            with conn.begin():
                yield conn

    # -- writes -----------------------------------------------------------------------------

    def create_run(
        self,
        workflow: str,
        input: dict[str, Any] | None,
        tags: Sequence[str] | None = None,
        *,
        run_id: str | None = None,
        status: str = "queued",
        rerun_of: str | None = None,
        created_at: dt.datetime | None = None,
        launched_by: str | None = None,
    ) -> str:
        """Insert a run row (queued by default) and return its id."""
        run_id = run_id or new_run_id()
        with self._write() as conn:
            conn.execute(
                insert(runs).values(
                    run_id=run_id,
                    workflow=workflow,
                    status=status,
                    created_at=created_at or utcnow(),
                    input=input,
                    tags=list(tags or []),
                    rerun_of=rerun_of,
                    launched_by=launched_by,
                )
            )
        return run_id

    def insert_many(self, rows: Sequence[dict[str, Any]]) -> None:
        """Bulk insert run rows (seeding, imports, benchmarks) in one executemany.

        Rows may leave columns out: every row gets the union of the keys given, a missing one
        taking the column's default (an executemany takes its columns from the first row).
        """
        if not rows:
            return
        rows = [_with_duration(row) for row in rows]
        keys = list(dict.fromkeys(key for row in rows for key in row))
        defaults = {c.name: c.default.arg if c.default is not None else None for c in runs.c}
        complete = [{key: row.get(key, defaults.get(key)) for key in keys} for row in rows]
        with self._write() as conn:
            conn.execute(insert(runs), complete)

    def update_run(self, run_id: str, *, expected: Iterable[str] | None = None, **values: Any) -> bool:
        """Set columns of one run; with `expected`, only if its status is one of those.

        Returns whether the row was changed, so callers can tell a lost race from success.
        """
        stmt = update(runs).where(runs.c.run_id == run_id).values(**values)
        if expected is not None:
            stmt = stmt.where(runs.c.status.in_(list(expected)))
        with self._write() as conn:
            return conn.execute(stmt).rowcount > 0

    def set_status(
        self,
        run_id: str,
        status: str,
        *,
        expected: Iterable[str] | None = None,
        error: str | None = None,
        snapshot: Any = None,
    ) -> bool:
        """Move a run to `status`; a final status also sets `finished_at`."""
        values: dict[str, Any] = {"status": status}
        if status in FINAL:
            values.update(finished_values(utcnow()))
        if error is not None:
            values["error"] = error
        if snapshot is not None:
            values["state_snapshot"] = snapshot
        return self.update_run(run_id, expected=expected, **values)

    def save_snapshot(self, run_id: str, snapshot: Any) -> None:
        """Store the latest JSON state of a run."""
        self.update_run(run_id, state_snapshot=snapshot)

    def claim_queued(self, worker: str, limit: int, *, run_id: str | None = None) -> list[dict[str, Any]]:
        """Atomically take up to `limit` queued runs (or just `run_id`), oldest first, for `worker`.

        PostgreSQL skips rows another executor has locked (FOR UPDATE SKIP LOCKED), so
        executors on many machines share one queue; on SQLite the write transaction is
        IMMEDIATE, so the conditional UPDATE is atomic on its own.
        """
        if limit <= 0:
            return []
        queued = select(runs.c.run_id).where(runs.c.status == "queued")
        if run_id is not None:
            queued = queued.where(runs.c.run_id == run_id)
        # An idle executor polls often: look with a plain read before taking the write lock.
        with self.engine.connect() as conn:
            if conn.execute(queued.limit(1)).first() is None:
                return []
        oldest = (
            queued.order_by(runs.c.created_at, runs.c.run_id).limit(limit).with_for_update(skip_locked=True)
        )
        now = utcnow()
        with self._write() as conn:
            # Lock the ids first, then update exactly those: PostgreSQL may re-run a LIMIT
            # subquery inside an UPDATE once per row and so claim more than `limit`.
            ids = list(conn.execute(oldest).scalars())
            if not ids:
                return []
            stmt = (
                update(runs)
                .where(runs.c.run_id.in_(ids), runs.c.status == "queued")
                .values(
                    status="running",
                    worker=worker,
                    started_at=func.coalesce(runs.c.started_at, now),
                    heartbeat_at=now,
                    finished_at=None,
                    duration_seconds=None,
                    error=None,
                    cancel_requested=False,
                )
                .returning(*runs.c)
            )
            claimed = {row.run_id: dict(row._mapping) for row in conn.execute(stmt)}
        return [claimed[i] for i in ids if i in claimed]

    def heartbeat(self, run_ids: Sequence[str], worker: str) -> set[str]:
        """Refresh the heartbeat of runs this worker holds; return those asked to cancel."""
        if not run_ids:
            return set()
        held = and_(runs.c.run_id.in_(list(run_ids)), runs.c.worker == worker)
        with self._write() as conn:
            conn.execute(update(runs).where(held, runs.c.status == "running").values(heartbeat_at=utcnow()))
            rows = conn.execute(select(runs.c.run_id).where(held, runs.c.cancel_requested))
            return {row.run_id for row in rows}

    def mark_stale_interrupted(self, older_than: dt.timedelta) -> list[str]:
        """Mark running runs whose executor stopped heart-beating as `interrupted`."""
        cutoff = utcnow() - older_than
        stmt = (
            update(runs)
            .where(runs.c.status == "running", runs.c.heartbeat_at < cutoff)
            .values(
                status="interrupted",
                **finished_values(utcnow()),
                error=f"The executor stopped responding (no heartbeat for {older_than.total_seconds():.0f}s); "
                "resume the run to continue from its last checkpoint.",
            )
            .returning(runs.c.run_id)
        )
        with self._write() as conn:
            return [row.run_id for row in conn.execute(stmt)]

    def record_task_events(self, run_id: str, events: Sequence[TaskEvent]) -> None:
        """Write a batch of task starts and ends, then recount the run's task columns.

        The counts are derived from `run_tasks` in the same transaction, so they always agree
        with the task rows, also when a resumed run starts an unfinished task again.
        """
        if not events:
            return
        merged: dict[str, _TaskRow] = {}
        for event in events:
            row = merged.setdefault(event.task_id, _TaskRow())
            if event.kind == "start":
                row.started_here = True
                row.values.update(
                    run_id=run_id,
                    task_id=event.task_id,
                    attempt=1,
                    node=event.node,
                    status="running",
                    started_at=event.at,
                    step=event.step,
                    finished_at=None,
                    error=None,
                )
            else:
                row.values.update(status=event.status, finished_at=event.at, error=event.error)
                row.values.setdefault("task_id", event.task_id)
        starts = [r.values for r in merged.values() if r.started_here]
        ends = [r.values for r in merged.values() if not r.started_here]
        with self._write() as conn:
            if starts:
                # A resumed run announces again the tasks whose results LangGraph restores from
                # the checkpoint; their finished rows stay as they are.
                upsert(conn, run_tasks, starts, ("run_id", "task_id", "attempt"), run_tasks.c.status != "succeeded")
            if ends:
                ended = (
                    update(run_tasks)
                    .where(run_tasks.c.run_id == run_id, run_tasks.c.task_id == bindparam("ended_task"))
                    .values(
                        status=bindparam("ended_status"),
                        finished_at=bindparam("ended_at"),
                        error=bindparam("ended_error"),
                    )
                )
                conn.execute(
                    ended,
                    [
                        {
                            "ended_task": v["task_id"],
                            "ended_status": v["status"],
                            "ended_at": v["finished_at"],
                            "ended_error": v["error"],
                        }
                        for v in ends
                    ],
                )  # one executemany for the whole batch
            conn.execute(self._recount(run_id))

    def mark_tasks_succeeded(self, run_id: str, task_ids: Iterable[str]) -> None:
        """Record tasks whose results the checkpoint holds as succeeded, though their end was never
        written here (their executor died between the saver's write and our next batch)."""
        task_ids = list(task_ids)
        if not task_ids:
            return
        with self._write() as conn:
            conn.execute(
                update(run_tasks)
                .where(
                    run_tasks.c.run_id == run_id,
                    run_tasks.c.task_id.in_(task_ids),
                    run_tasks.c.status != "succeeded",
                )
                .values(
                    status="succeeded",
                    finished_at=func.coalesce(run_tasks.c.finished_at, utcnow()),
                    error=None,
                )
            )
            conn.execute(self._recount(run_id))

    @staticmethod
    def _recount(run_id: str) -> Any:
        def count(*conds: Any) -> Any:
            return (
                select(func.count())
                .select_from(run_tasks)
                .where(run_tasks.c.run_id == run_id, *conds)
                .scalar_subquery()
            )

        return (
            update(runs)
            .where(runs.c.run_id == run_id)
            .values(
                tasks_total=count(),
                tasks_completed=count(run_tasks.c.status == "succeeded"),
                tasks_failed=count(run_tasks.c.status == "failed"),
            )
        )

    def close_open_tasks(self, run_id: str, status: str = "interrupted") -> None:
        """Mark tasks still `running` of a run that stopped as ended with `status`."""
        with self._write() as conn:
            conn.execute(
                update(run_tasks)
                .where(run_tasks.c.run_id == run_id, run_tasks.c.status == "running")
                .values(status=status, finished_at=utcnow())
            )

    def delete_run(self, run_id: str) -> bool:
        """Delete a run's task rows and its row (checkpoints are the saver's to delete)."""
        with self._write() as conn:
            conn.execute(delete(run_tasks).where(run_tasks.c.run_id == run_id))
            return conn.execute(delete(runs).where(runs.c.run_id == run_id)).rowcount > 0

    # -- reads ------------------------------------------------------------------------------

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """Every column of one run, or None."""
        if not is_run_id(run_id):
            return None
        stmt = select(runs).where(runs.c.run_id == run_id)
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        return dict(row._mapping) if row else None

    def get_runs(self, run_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Several runs by id, in the order asked (missing ids are left out)."""
        run_ids = [r for r in run_ids if is_run_id(r)]
        if not run_ids:
            return []
        stmt = select(runs).where(runs.c.run_id.in_(run_ids))
        with self.engine.connect() as conn:
            found = {row.run_id: dict(row._mapping) for row in conn.execute(stmt)}
        return [found[r] for r in run_ids if r in found]

    def get_tasks(self, run_id: str) -> list[dict[str, Any]]:
        """A run's task rows in the order they started."""
        if not is_run_id(run_id):
            return []
        stmt = (
            select(
                *run_tasks.c,
                seconds_between(run_tasks.c.started_at, run_tasks.c.finished_at).label("duration_seconds"),
            )
            .where(run_tasks.c.run_id == run_id)
            .order_by(run_tasks.c.started_at, run_tasks.c.task_id)
        )
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(stmt)]

    def latest_tasks(self, run_ids: Sequence[str], per_run: int = 3) -> dict[str, list[dict[str, Any]]]:
        """The most recent task events of several runs (newest first), in one query."""
        found: dict[str, list[dict[str, Any]]] = {run_id: [] for run_id in run_ids}
        run_ids = [r for r in run_ids if is_run_id(r)]
        if not run_ids:
            return found
        per_run = check_count(per_run, "per_run", low=1)
        recent = func.row_number().over(
            partition_by=run_tasks.c.run_id,
            order_by=(
                func.coalesce(run_tasks.c.finished_at, run_tasks.c.started_at).desc(),
                run_tasks.c.task_id,
            ),
        )
        ranked = (
            select(run_tasks, recent.label("recent")).where(run_tasks.c.run_id.in_(list(run_ids))).subquery()
        )
        stmt = select(ranked).where(ranked.c.recent <= per_run).order_by(ranked.c.run_id, ranked.c.recent)
        with self.engine.connect() as conn:
            for row in conn.execute(stmt):
                found[row.run_id].append(dict(row._mapping))
        return found

    def query_runs(
        self,
        filters: RunFilter | None = None,
        *,
        sort: str = "created_at",
        descending: bool = True,
        limit: int = 50,
        offset: int = 0,
    ) -> RunPage:
        """One page of runs matching `filters`, sorted and paged by the database, and the count."""
        if not isinstance(sort, str) or sort not in SORT_COLUMNS:
            raise InputError(f"Cannot sort by {shown(sort)}; choose one of {', '.join(SORT_COLUMNS)}.")
        limit, offset = check_page(limit, offset)
        if filters is not None and not isinstance(filters, RunFilter):
            raise InputError("filters must be a RunFilter.")
        conds = (filters or RunFilter()).conditions()
        order = SORT_COLUMNS[sort].desc() if descending else SORT_COLUMNS[sort].asc()
        if sort in NULLABLE_SORTS:
            order = order.nulls_last()
        tiebreak = runs.c.run_id.desc() if descending else runs.c.run_id.asc()
        page = select(*LIST_COLUMNS).where(*conds).order_by(order, tiebreak).limit(limit).offset(offset)
        count = select(func.count()).select_from(runs).where(*conds)
        with self.engine.connect() as conn:
            rows = [dict(row._mapping) for row in conn.execute(page)]
            total = conn.execute(count).scalar_one()
        return RunPage(rows=rows, total=total)

    def count_by_status(self) -> dict[str, int]:
        """How many runs have each status (statuses with none are 0)."""
        stmt = select(runs.c.status, func.count()).group_by(runs.c.status)
        with self.engine.connect() as conn:
            found = {status: count for status, count in conn.execute(stmt).all()}
        return {status: found.get(status, 0) for status in ALL_STATUSES}

    def count_runs(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(runs)).scalar_one()

    def workflow_names(self) -> list[str]:
        """The workflows that have runs (for filter choices)."""
        stmt = select(runs.c.workflow).distinct().order_by(runs.c.workflow)
        with self.engine.connect() as conn:
            return list(conn.execute(stmt).scalars())
