"""RunStore: the one door to the `runs` and `run_tasks` tables.

Every method is one SQL statement (or one short transaction) built with SQLAlchemy Core and
bound parameters; filtering, sorting, paging and aggregation happen in the database. A filtered
page and its count are read by the engine's planner (`orchestrator.run_queries`), whose
`RunFilter` the filters are.

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
from typing import Any

from sqlalchemy import (
    Connection,
    CursorResult,
    Engine,
    delete,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from orchestrator.db import (
    run_answers,
    run_logs,
    run_metrics,
    run_model_calls,
    run_task_io,
    run_tasks,
    runs,
    utcnow,
)
from orchestrator.errors import ReadOnlyError
from orchestrator.rows import RunPage, RunRow, RunSummary, TaskRow
from orchestrator.run_queries import COUNT_CAP, MatchCount, RunFilter, checked_filter, planner_for, sort_field
from orchestrator.run_queries.columns import checked_columns, field_choices, field_values, page_json
from orchestrator.run_queries.statements import TOKENS, ids_select, live_wall_seconds, live_work_seconds
from orchestrator.run_times import finished_values, row_with_times, task_seconds, task_wait_seconds
from orchestrator.status import ALL_STATUSES, FINAL, RunStatus, TaskStatus
from orchestrator.validation import check_count, check_page, is_run_id

# Every column of a run, its times as above, and its tokens as the runs list has them.
RUN_COLUMNS = (
    *(
        live_wall_seconds if c.name == "wall_seconds" else live_work_seconds if c.name == "work_seconds" else c
        for c in runs.c
    ),
    TOKENS.label("tokens"),
)


def _dicts(result: CursorResult[Any]) -> list[dict[str, Any]]:
    """The rows as dicts (as `dict(row._mapping)`, at a third of its cost per row)."""
    keys = list(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result]


class _NotRecorded(Exception):
    """Rolls back an answer whose run had moved on (RunStore.record_answers)."""


def new_run_id() -> str:
    return uuid.uuid4().hex


class RunStore:
    """Create, update, query and aggregate runs (SQLAlchemy Core over one engine)."""

    def __init__(self, engine: Engine, *, read_only: bool = False):
        """With `read_only`, every write raises ReadOnlyError before a transaction is opened."""
        self.engine = engine
        self.read_only = read_only
        # How this engine's database reads a filtered page and counts it (run_queries).
        self.planner = planner_for(engine)

    def transaction(self) -> Any:
        """A write transaction (refused in read-only mode): for the claim store and fenced runs,
        which write the runs tables through this store."""
        return self._write()

    @staticmethod
    def recount(run_id: str) -> Any:
        """The UPDATE that sets a run's task counts from its task rows."""
        return RunStore._recount(run_id)

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
        status: str = RunStatus.QUEUED,
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
        rows = [row_with_times(row) for row in rows]
        keys = list(dict.fromkeys(key for row in rows for key in row))
        defaults = {c.name: getattr(c.default, "arg", None) for c in runs.c}
        complete = [{key: row.get(key, defaults.get(key)) for key in keys} for row in rows]
        with self._write() as conn:
            conn.execute(insert(runs), complete)

    def insert_tasks(self, rows: Sequence[dict[str, Any]]) -> None:
        """Bulk insert task rows (seeding, imports, benchmarks) and recount their runs' tasks.

        Each row needs run_id, task_id, node, status and started_at; `attempt` defaults to 1.
        """
        if not rows:
            return
        keys = list(dict.fromkeys(["attempt", *(key for row in rows for key in row)]))
        complete = [{key: row.get(key, 1 if key == "attempt" else None) for key in keys} for row in rows]
        with self._write() as conn:
            conn.execute(insert(run_tasks), complete)
            for run_id in dict.fromkeys(row["run_id"] for row in rows):
                conn.execute(self._recount(run_id))

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
        """Move a run to `status`; a final status also sets `finished_at` and closes the tasks
        still open (a run that waits for a person, say, is cancelled with its question)."""
        values: dict[str, Any] = {"status": status}
        if status in FINAL:
            values.update(finished_values())
        if error is not None:
            values["error"] = error
        if snapshot is not None:
            values["state_snapshot"] = snapshot
        stmt = update(runs).where(runs.c.run_id == run_id).values(**values)
        if expected is not None:
            stmt = stmt.where(runs.c.status.in_(list(expected)))
        with self._write() as conn:
            if conn.execute(stmt).rowcount == 0:
                return False
            if status in FINAL:
                self.close_open_tasks(conn, run_id)
                conn.execute(self._recount(run_id))
        return True

    @staticmethod
    def close_open_tasks(conn: Connection, run_id: str, attempt: int | None = None) -> None:
        """Close a run's tasks that have not ended (of one attempt, or all): a task cut off while
        it worked is interrupted; one that waited for a slot, or (of every attempt) for a person,
        never did its work: cancelled."""
        waited = [TaskStatus.WAITING, *([TaskStatus.AWAITING_INPUT] if attempt is None else [])]
        for was, becomes in (([TaskStatus.RUNNING], TaskStatus.INTERRUPTED), (waited, TaskStatus.CANCELLED)):
            stmt = update(run_tasks).where(run_tasks.c.run_id == run_id, run_tasks.c.status.in_(was))
            if attempt is not None:
                stmt = stmt.where(run_tasks.c.attempt == attempt)
            ended = func.coalesce(run_tasks.c.finished_at, utcnow())
            conn.execute(stmt.values(status=becomes, finished_at=ended))

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
                tasks_completed=count(run_tasks.c.status == TaskStatus.SUCCEEDED),
                tasks_failed=count(run_tasks.c.status == TaskStatus.FAILED),
            )
        )

    def delete_run(self, run_id: str, *, expected: Iterable[str] | None = None) -> bool:
        """Delete a run's row, its task rows, logs and model calls (checkpoints are the saver's to delete); with
        `expected`, only if its status is one of those. Whether a row was deleted."""
        stmt = delete(runs).where(runs.c.run_id == run_id)
        if expected is not None:
            stmt = stmt.where(runs.c.status.in_(list(expected)))
        with self._write() as conn:
            # (A trigger deletes the tasks first, so the node rollup still knows their workflow.)
            if conn.execute(stmt).rowcount == 0:
                return False
            # What its tasks logged and its model calls go with it (orchestrator.observe).
            conn.execute(delete(run_logs).where(run_logs.c.run_id == run_id))
            conn.execute(delete(run_model_calls).where(run_model_calls.c.run_id == run_id))
            conn.execute(delete(run_task_io).where(run_task_io.c.run_id == run_id))
            return True

    # -- answers to interrupts (orchestrator.answers decides; this stores) ---------------------

    def record_answers(
        self, run_id: str, answers: Sequence[dict[str, Any]], *, expected: Iterable[str], **values: Any
    ) -> bool:
        """Set columns of a run whose status is one of `expected` and insert its `run_answers`
        rows, in one transaction: both or neither.

        False when the run's status was not expected any more, or one of the interrupts already
        has an answer (its primary key): the first answer wins, on both backends. PostgreSQL's
        row lock makes a concurrent second writer wait, then find the status changed; SQLite's
        write transactions run one at a time.
        """
        rows = [{"run_id": run_id, **answer} for answer in answers]
        try:
            with self._write() as conn:
                stmt = update(runs).where(runs.c.run_id == run_id, runs.c.status.in_(list(expected)))
                if conn.execute(stmt.values(**values)).rowcount == 0:
                    raise _NotRecorded
                conn.execute(insert(run_answers), rows)
                if values.get("status") in FINAL:  # a rejection that ends the run ends its question too
                    self.close_open_tasks(conn, run_id)
                    conn.execute(self._recount(run_id))
        except (_NotRecorded, IntegrityError):
            return False
        return True

    def get_answers(self, run_id: str) -> list[dict[str, Any]]:
        """A run's recorded answers, newest first."""
        if not is_run_id(run_id):
            return []
        stmt = (
            select(run_answers)
            .where(run_answers.c.run_id == run_id)
            .order_by(run_answers.c.answered_at.desc(), run_answers.c.interrupt_id)
        )
        with self.engine.connect() as conn:
            return _dicts(conn.execute(stmt))

    # -- reads ------------------------------------------------------------------------------

    def get_run(self, run_id: str) -> RunRow | None:
        """Every column of one run, or None."""
        if not is_run_id(run_id):
            return None
        stmt = select(*RUN_COLUMNS).where(runs.c.run_id == run_id)
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        return dict(row._mapping) if row else None  # type: ignore[return-value]

    def get_runs(self, run_ids: Sequence[str]) -> list[RunRow]:
        """Several runs by id, in the order asked (missing ids are left out)."""
        run_ids = [r for r in run_ids if is_run_id(r)]
        if not run_ids:
            return []
        stmt = select(*RUN_COLUMNS).where(runs.c.run_id.in_(run_ids))
        with self.engine.connect() as conn:
            found = {row.run_id: dict(row._mapping) for row in conn.execute(stmt)}
        return [found[r] for r in run_ids if r in found]  # type: ignore[misc]

    def statuses(self, run_ids: Sequence[str]) -> dict[str, str]:
        """The status of each of these runs that exists, by run id."""
        run_ids = [r for r in dict.fromkeys(run_ids) if is_run_id(r)]
        if not run_ids:
            return {}
        stmt = select(runs.c.run_id, runs.c.status).where(runs.c.run_id.in_(run_ids))
        with self.engine.connect() as conn:
            return {run_id: status for run_id, status in conn.execute(stmt)}

    def matching_statuses(self, filters: RunFilter | None, limit: int) -> dict[str, str]:
        """The status of each run matching `filters` (newest first), of at most `limit` runs."""
        stmt = ids_select(checked_filter(filters), check_count(limit, "limit", low=1))
        with self.engine.connect() as conn:
            return {run_id: status for run_id, status in conn.execute(stmt)}

    def get_tasks(self, run_id: str) -> list[TaskRow]:
        """A run's task rows in the order they started, with their work and wait in seconds."""
        if not is_run_id(run_id):
            return []
        stmt = (
            select(
                *run_tasks.c,
                task_seconds.label("work_seconds"),
                task_wait_seconds.label("wait_seconds"),
            )
            .where(run_tasks.c.run_id == run_id)
            .order_by(run_tasks.c.started_at, run_tasks.c.task_id)
        )
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(stmt)]  # type: ignore[misc]

    def node_counts(self, run_id: str) -> dict[str, dict[str, int]]:
        """How many of a run's tasks each node has in each status: {node: {status: n}}."""
        if not is_run_id(run_id):
            return {}
        stmt = (
            select(run_tasks.c.node, run_tasks.c.status, func.count())
            .where(run_tasks.c.run_id == run_id)
            .group_by(run_tasks.c.node, run_tasks.c.status)
        )
        counts: dict[str, dict[str, int]] = {}
        with self.engine.connect() as conn:
            for node, status, n in conn.execute(stmt):
                counts.setdefault(node, {})[status] = n
        return counts

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
        columns: Sequence[str] | str = (),
    ) -> RunPage:
        """One page of runs matching `filters`, sorted and paged by the database, and the exact count.

        The dashboard asks for the page (`page_runs`) and the count (`count_matching`) apart, so
        the page never waits on the count; this is for callers that want both (the CLI).
        """
        rows = self.page_runs(
            filters, sort=sort, descending=descending, limit=limit, offset=offset, columns=columns
        )
        return RunPage(rows=rows, total=self.count_matching(filters, cap=None).value)

    def page_runs(
        self,
        filters: RunFilter | None = None,
        *,
        sort: str = "created_at",
        descending: bool = True,
        limit: int = 50,
        offset: int = 0,
        columns: Sequence[str] | str = (),
    ) -> list[RunSummary]:
        """One page of runs matching `filters`, sorted and paged by the database (no count).

        The engine's planner (run_queries) chooses how the database finds them. `columns`: fields
        (`input.tasks`, `state.summary.total`, `metrics.accuracy`) each row also holds, by its
        path (None where the run has none), read for the page's runs by their ids.
        """
        checked, field = checked_filter(filters), sort_field(sort)
        fields = checked_columns(columns)
        limit, offset = check_page(limit, offset)
        with self.engine.connect() as conn:
            rows = self.planner.page(conn, checked, field, bool(descending), limit, offset)
            if fields:
                values = field_values(conn, [r["run_id"] for r in rows], fields)
                rows = [{**r, **values[r["run_id"]]} for r in rows]  # type: ignore[typeddict-item]
            return rows

    def metric_series(self, run_id: str) -> dict[str, list[dict[str, Any]]]:
        """Every value of each metric the run recorded, by name, in step order
        (`{"loss": [{"step": 0, "value": 1.0, "at": …}, …]}`)."""
        stmt = (
            select(run_metrics.c.name, run_metrics.c.step, run_metrics.c.value, run_metrics.c.at)
            .where(run_metrics.c.run_id == run_id)
            .order_by(run_metrics.c.name, run_metrics.c.step)
        )
        found: dict[str, list[dict[str, Any]]] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(stmt):
                found.setdefault(row.name, []).append({"step": row.step, "value": row.value, "at": row.at})
        return found

    def offered_fields(self, run_ids: Sequence[str], input_models: Iterable[Any] = ()) -> list[str]:
        """The fields a page of these runs can show as columns: the input models' fields and those
        found in the runs' input, final state and metrics (run_queries.columns.field_choices)."""
        with self.engine.connect() as conn:
            return field_choices(input_models, page_json(conn, list(run_ids)))

    def count_matching(self, filters: RunFilter | None = None, *, cap: int | None = COUNT_CAP) -> MatchCount:
        """How many runs match `filters`: exact up to `cap`, else "more than cap" (None: always exact).

        A capped count reads at most cap + 1 matching rows, so a broad filter at a million runs
        costs what a narrow one does; the page shows "10,000+" and counts exactly on demand.
        Where a few of the lead filter's many runs match the others, a capped count reads at most
        run_queries.planner.COUNT_BUDGET of them and says "at least": e.g. "2,013+".
        """
        checked = checked_filter(filters)
        if cap is not None:
            cap = check_count(cap, "cap", low=1)
        with self.engine.connect() as conn:
            return self.planner.count(conn, checked, cap)

    def forget_plans(self) -> None:
        """Choose every lead anew on the next read (the benchmark times each read with its probes)."""
        self.planner.forget()

    def count_by_status(self) -> dict[str, int]:
        """How many runs have each status (statuses with none are 0)."""
        stmt = select(runs.c.status, func.count()).group_by(runs.c.status)
        with self.engine.connect() as conn:
            found = {status: count for status, count in conn.execute(stmt).all()}
        return {status: found.get(status, 0) for status in ALL_STATUSES}

    def ping(self) -> None:
        """One round trip to the database (raises when it does not answer)."""
        with self.engine.connect() as conn:
            conn.execute(select(literal(1))).scalar_one()

    def count_runs(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(runs)).scalar_one()

    def workflow_names(self) -> list[str]:
        """The workflows that have runs (for filter choices).

        One index seek per workflow (a recursive "next name after this one"), not a DISTINCT over
        every run: PostgreSQL has no skip scan, and DISTINCT read a million runs in 0.25 s.
        """
        first = select(func.min(runs.c.workflow).label("workflow")).cte("names", recursive=True)
        after = select(func.min(runs.c.workflow)).where(runs.c.workflow > first.c.workflow).scalar_subquery()
        names = first.union_all(select(after).where(first.c.workflow.is_not(None)))
        stmt = select(names.c.workflow).where(names.c.workflow.is_not(None)).order_by(names.c.workflow)
        with self.engine.connect() as conn:
            return list(conn.execute(stmt).scalars())
