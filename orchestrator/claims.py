"""How executors take runs: claims, heartbeats, and the recovery of runs whose executor died.

Every claim of a run (first start, resume, recovery) takes the next `attempt` number. What an
executor may write about a run it holds is a `FencedRun` (orchestrator.fenced_run), which
`ClaimStore.fenced(claim)` hands out: each of its writes is conditional on the claim in the same
transaction. The claim store itself writes only claims, heartbeats and stale marks, and keeps the
run store it writes through to itself (composition, not inheritance): an executor holds no
unfenced write of a run. Staleness is judged by the database's clock.

    >>> store = ClaimStore(engine)
    >>> (row,) = store.claim_queued("host:123", 1)
    >>> run = store.fenced(Claim(row["run_id"], row["attempt"]))
    >>> run.finish(RunStatus.SUCCEEDED, snapshot={...})
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, func, select, tuple_, update

from orchestrator.db import runs, seconds_between
from orchestrator.db.dialect import db_now, db_seconds_ago
from orchestrator.fenced_run import (  # the claim's parts too: the executor takes them from here
    MAX_AUTO_RETRIES,
    Claim,
    ClaimLost,
    FencedRun,
    TaskEvent,
    TaskTruth,
)
from orchestrator.observe.redact import Redactor
from orchestrator.rows import RunRow
from orchestrator.run_times import finished_values
from orchestrator.runs import RUN_COLUMNS, RunStore
from orchestrator.status import RunStatus


class ClaimStore:
    """The executors' side of the runs tables: claims, heartbeats, stale runs; and, per claim, the
    fenced writes of a run (`fenced`)."""

    def __init__(self, engine: Engine, *, read_only: bool = False):
        self.engine = engine
        self._runs = RunStore(engine, read_only=read_only)

    def fenced(self, claim: Claim, redactor: Redactor | None = None) -> FencedRun:
        """What the holder of `claim` may write about its run: only through the fence (a task's
        input and output redacted by `redactor`)."""
        return FencedRun(self._runs, claim, redactor)

    def ping(self) -> None:
        """One round trip to the database (raises when it does not answer)."""
        self._runs.ping()

    # -- claiming ---------------------------------------------------------------------------

    def claim_queued(
        self, worker: str, limit: int, *, run_id: str | None = None, workflows: Sequence[str] | None = None
    ) -> list[RunRow]:
        """Atomically take up to `limit` queued runs (or just `run_id`), oldest first, for `worker`;
        with `workflows`, only runs of those (the ones this worker can build).

        Each gets the next attempt number. PostgreSQL skips rows another executor has locked
        (FOR UPDATE SKIP LOCKED), so executors on many machines share one queue; on SQLite the
        write transaction is IMMEDIATE, so the conditional UPDATE is atomic on its own.
        """
        if limit <= 0:
            return []
        queued = select(runs.c.run_id).where(runs.c.status == RunStatus.QUEUED)
        if run_id is not None:
            queued = queued.where(runs.c.run_id == run_id)
        if workflows is not None:
            queued = queued.where(runs.c.workflow.in_(list(workflows)))
        # An idle executor polls often: look with a plain read before taking the write lock.
        with self.engine.connect() as conn:
            if conn.execute(queued.limit(1)).first() is None:
                return []
        oldest = (
            queued.order_by(runs.c.created_at, runs.c.run_id).limit(limit).with_for_update(skip_locked=True)
        )
        with self._runs.transaction() as conn:
            # Lock the ids first, then update exactly those: PostgreSQL may re-run a LIMIT
            # subquery inside an UPDATE once per row and so claim more than `limit`.
            ids = list(conn.execute(oldest).scalars())
            if not ids:
                return []
            stmt = (
                update(runs)
                .where(runs.c.run_id.in_(ids), runs.c.status == RunStatus.QUEUED)
                .values(
                    status=RunStatus.RUNNING,
                    attempt=runs.c.attempt + 1,
                    worker=worker,
                    # A run's times are the database's clock: its wall and work time agree
                    # whichever workers' clocks ran it.
                    started_at=func.coalesce(runs.c.started_at, db_now()),
                    attempt_started_at=db_now(),
                    heartbeat_at=db_now(),
                    finished_at=None,
                    wall_seconds=None,
                    cancel_requested=False,
                )
                .returning(*RUN_COLUMNS)
            )
            claimed = {row.run_id: dict(row._mapping) for row in conn.execute(stmt)}
        return [claimed[i] for i in ids if i in claimed]  # type: ignore[misc]

    def heartbeat(self, claims: Sequence[Claim]) -> tuple[set[str], set[str]]:
        """Refresh the heartbeat of the runs these claims hold, by the database's clock.

        Returns (held, cancel): the runs still held, and those of them asked to cancel.
        """
        if not claims:
            return set(), set()
        stmt = (
            update(runs)
            .where(
                tuple_(runs.c.run_id, runs.c.attempt).in_([(c.run_id, c.attempt) for c in claims]),
                runs.c.status == RunStatus.RUNNING,
            )
            .values(heartbeat_at=db_now())
            .returning(runs.c.run_id, runs.c.cancel_requested)
        )
        with self._runs.transaction() as conn:
            rows = conn.execute(stmt).all()
        return {r.run_id for r in rows}, {r.run_id for r in rows if r.cancel_requested}

    def holds(self, claim: Claim) -> bool:
        """Whether the claim still holds its run (a read: no heartbeat)."""
        stmt = select(runs.c.attempt, runs.c.status).where(runs.c.run_id == claim.run_id)
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        return row is not None and row.attempt == claim.attempt and row.status == RunStatus.RUNNING

    def mark_stale_interrupted(self, stale_after_seconds: float) -> list[str]:
        """Mark running runs whose heartbeat is older than `stale_after_seconds`, by the
        database's clock, as `interrupted`, and their open tasks too."""
        # Rows another session has locked are skipped, not waited for: a frozen executor's open
        # transaction must not stall this executor's loop (the server ends that transaction).
        stale_rows = (
            select(runs.c.run_id)
            .where(
                runs.c.status == RunStatus.RUNNING, runs.c.heartbeat_at < db_seconds_ago(stale_after_seconds)
            )
            .with_for_update(skip_locked=True)
        )
        stmt = (
            update(runs)
            .where(runs.c.run_id.in_(stale_rows.scalar_subquery()))
            .values(
                status=RunStatus.INTERRUPTED,
                **finished_values(),
                # The attempt worked until its last heartbeat (the database's clock, as its start).
                work_seconds=func.coalesce(runs.c.work_seconds, 0.0)
                + func.coalesce(seconds_between(runs.c.attempt_started_at, runs.c.heartbeat_at), 0.0),
                error=f"The executor stopped responding (no heartbeat for {stale_after_seconds:.0f} s); "
                "resume the run to continue from its last checkpoint.",
            )
            .returning(runs.c.run_id)
        )
        with self._runs.transaction() as conn:
            stale = [row.run_id for row in conn.execute(stmt)]
            for run_id in stale:
                self._runs.close_open_tasks(conn, run_id)
                conn.execute(self._runs.recount(run_id))
        return stale


__all__ = ["MAX_AUTO_RETRIES", "Claim", "ClaimLost", "ClaimStore", "FencedRun", "TaskEvent", "TaskTruth"]
