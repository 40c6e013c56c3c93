"""Workers: every executor records itself, its heartbeat and the workflows it can build, so it
claims only runs it can execute, people can see who is online, and a queued run that no online
worker can run says so.

A worker counts as online while its heartbeat is younger than `stale_after_seconds` (by the
database's clock) and it has not said it stopped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TypedDict

from sqlalchemy import Connection, Engine, select, update

from orchestrator.db import upsert, utcnow, workers
from orchestrator.db.dialect import db_now, db_seconds_ago


class WorkerRow(TypedDict):
    worker: str
    host: str
    pid: int
    started_at: dt.datetime
    heartbeat_at: dt.datetime
    stopped_at: dt.datetime | None
    concurrency: int
    running: int
    workflows: list[str]
    broken: dict[str, str] | None
    online: bool
    seen_seconds_ago: float  # since its last heartbeat, by the database's clock


class WorkerStore:
    """The `workers` table (SQLAlchemy Core)."""

    def __init__(self, engine: Engine):
        self.engine = engine

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn.execution_options(sqlite_write=True)
            with conn.begin():
                yield conn

    def register(
        self,
        worker: str,
        *,
        host: str,
        pid: int,
        concurrency: int,
        workflows: Sequence[str],
        broken: Mapping[str, str],
    ) -> None:
        """Record that `worker` serves, with the workflows it can build and the entries it cannot."""
        row = {
            "worker": worker,
            "host": host,
            "pid": pid,
            "started_at": utcnow(),
            "heartbeat_at": utcnow(),
            "stopped_at": None,
            "concurrency": concurrency,
            "running": 0,
            "workflows": list(workflows),
            "broken": dict(broken),
        }
        with self._transaction() as conn:
            upsert(conn, workers, [row], ("worker",))
            conn.execute(update(workers).where(workers.c.worker == worker).values(heartbeat_at=db_now()))

    def beat(self, worker: str, running: int) -> None:
        """Refresh the worker's heartbeat (by the database's clock) and its number of runs."""
        with self._transaction() as conn:
            conn.execute(
                update(workers)
                .where(workers.c.worker == worker)
                .values(heartbeat_at=db_now(), running=running)
            )

    def stopped(self, worker: str) -> None:
        """Record that the worker stopped serving."""
        with self._transaction() as conn:
            conn.execute(
                update(workers).where(workers.c.worker == worker).values(stopped_at=utcnow(), running=0)
            )

    def list(
        self,
        stale_after_seconds: float,
        *,
        include_offline: bool = True,
        hide_gone_after: float | None = None,
    ) -> list[WorkerRow]:
        """Workers, online first, each with `online` and `seen_seconds_ago`; offline ones only with
        `include_offline`, and of those only the ones seen within `hide_gone_after` seconds if given."""
        online = (workers.c.stopped_at.is_(None)) & (
            workers.c.heartbeat_at >= db_seconds_ago(stale_after_seconds)
        )
        stmt = select(workers, online.label("online"), db_now().label("db_now")).order_by(
            online.desc(), workers.c.worker
        )
        if not include_offline:
            stmt = stmt.where(online)
        elif hide_gone_after is not None:
            stmt = stmt.where(online | (workers.c.heartbeat_at >= db_seconds_ago(hide_gone_after)))
        with self.engine.connect() as conn:
            found = [dict(row._mapping) for row in conn.execute(stmt)]
        for row in found:
            row["online"] = bool(row["online"])
            now = row.pop("db_now")
            row["seen_seconds_ago"] = max(0.0, (now - row["heartbeat_at"]).total_seconds())
        return found  # type: ignore[return-value]

    def online_workflows(self, stale_after_seconds: float) -> set[str]:
        """The workflows at least one online worker can run."""
        return {
            name for w in self.list(stale_after_seconds, include_offline=False) for name in w["workflows"]
        }
