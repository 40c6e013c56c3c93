"""Aggregates for the overview: every figure is computed by the database (GROUP BY, percentiles).

>>> period = Period.last(dt.timedelta(days=7))
>>> figures(engine, period)["success_rate"]
0.93
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Float, case, func, literal, select

from orchestrator.db import (
    bin_index,
    grouped_percentiles,
    run_tasks,
    runs,
    seconds_between,
    time_bucket,
    utcnow,
)

FINISHED = ("succeeded", "failed", "cancelled", "interrupted")
run_seconds = runs.c.duration_seconds
task_seconds = seconds_between(run_tasks.c.started_at, run_tasks.c.finished_at)


@dataclass(frozen=True)
class Period:
    """A half-open time range [start, end) in UTC over `created_at`."""

    start: dt.datetime
    end: dt.datetime

    @classmethod
    def last(cls, length: dt.timedelta, now: dt.datetime | None = None) -> Period:
        end = now or utcnow()
        return cls(end - length, end)

    @property
    def length(self) -> dt.timedelta:
        return self.end - self.start

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        return Period(self.start - self.length, self.start)

    @property
    def bucket_unit(self) -> str:
        return "hour" if self.length <= dt.timedelta(days=2) else "day"

    @property
    def bucket(self) -> dt.timedelta:
        """The length of one bar of runs over time: an hour (periods up to two days) or a day."""
        return dt.timedelta(hours=1) if self.bucket_unit == "hour" else dt.timedelta(days=1)


def _where(period: Period, workflows: Sequence[str]) -> list[Any]:
    conds = [runs.c.created_at >= period.start, runs.c.created_at < period.end]
    if workflows:
        conds.append(runs.c.workflow.in_(list(workflows)))
    return conds


def _count_if(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _figure_columns() -> list[Any]:
    return [
        func.count().label("runs"),
        _count_if(runs.c.status == "succeeded").label("succeeded"),
        _count_if(runs.c.status == "failed").label("failed"),
        _count_if(runs.c.status.in_(FINISHED)).label("finished"),
        func.coalesce(func.sum(runs.c.tasks_completed), 0).label("tasks_completed"),
        func.coalesce(func.sum(runs.c.tasks_failed), 0).label("tasks_failed"),
    ]


def _figures_from(row: Any, percentiles: dict[float, float | None], period: Period) -> dict[str, Any]:
    minutes = period.length.total_seconds() / 60
    return {
        "runs": int(row.runs),
        "succeeded": int(row.succeeded),
        "failed": int(row.failed),
        "success_rate": row.succeeded / row.finished if row.finished else None,
        "p50_seconds": percentiles.get(0.5),
        "p95_seconds": percentiles.get(0.95),
        "tasks_completed": int(row.tasks_completed),
        "tasks_failed": int(row.tasks_failed),
        "tasks_per_minute": row.tasks_completed / minutes if minutes else None,
    }


def figures(engine: Engine, period: Period, workflows: Sequence[str] = ()) -> dict[str, Any]:
    """Headline figures of the runs created in `period`: counts, success rate, duration p50/p95, tasks."""
    where = _where(period, workflows)
    with engine.connect() as conn:
        row = conn.execute(select(*_figure_columns()).where(*where)).one()
        percentiles = grouped_percentiles(conn, run_seconds, where, None, (0.5, 0.95))
    return _figures_from(row, next(iter(percentiles.values()), {}), period)


def figures_with_change(engine: Engine, period: Period, workflows: Sequence[str] = ()) -> dict[str, Any]:
    """Figures for `period` and the previous period of the same length, and their differences."""
    current, previous = figures(engine, period, workflows), figures(engine, period.previous(), workflows)
    change = {
        key: (current[key] - previous[key])
        if current[key] is not None and previous[key] is not None
        else None
        for key in current
    }
    return {"current": current, "previous": previous, "change": change}


def per_workflow(engine: Engine, period: Period, workflows: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The headline figures for each workflow, busiest first."""
    where = _where(period, workflows)
    stmt = select(runs.c.workflow, *_figure_columns()).where(*where).group_by(runs.c.workflow)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
        percentiles = grouped_percentiles(conn, run_seconds, where, runs.c.workflow, (0.5, 0.95))
    table = [
        {"workflow": r.workflow, **_figures_from(r, percentiles.get(r.workflow, {}), period)} for r in rows
    ]
    return sorted(table, key=lambda r: (-r["runs"], r["workflow"]))


def runs_over_time(engine: Engine, period: Period, workflows: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Runs per hour (periods up to two days) or per day, by status: [{bucket, status, runs}]."""
    bucket = time_bucket(runs.c.created_at, period.bucket_unit).label("bucket")
    stmt = (
        select(bucket, runs.c.status, func.count().label("runs"))
        .where(*_where(period, workflows))
        .group_by(bucket, runs.c.status)
        .order_by(bucket, runs.c.status)
    )
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(stmt)]


def histogram(
    engine: Engine, period: Period, workflows: Sequence[str] = (), *, of: str = "duration", bins: int = 20
) -> list[dict[str, Any]]:
    """Runs per bin of duration (seconds) or of `tasks_total`: [{start, end, runs}], by the database."""
    value = run_seconds if of == "duration" else runs.c.tasks_total
    where = [*_where(period, workflows), value.is_not(None)]
    with engine.connect() as conn:
        top = conn.execute(select(func.max(value)).where(*where)).scalar()
        if top is None:
            return []
        width = max(float(top) / bins, 1e-3 if of == "duration" else 1.0)
        if of != "duration":
            width = float(int(width + 0.999))  # whole task counts per bin
        index = bin_index(value, literal(width, Float), bins - 1).label("bin")
        stmt = select(index, func.count().label("runs")).where(*where).group_by(index).order_by(index)
        rows = conn.execute(stmt).all()
    return [{"start": r.bin * width, "end": (r.bin + 1) * width, "runs": r.runs} for r in rows]


def node_stats(
    engine: Engine, period: Period, workflows: Sequence[str] = (), *, limit: int = 10
) -> list[dict[str, Any]]:
    """Per node (over runs created in `period`): tasks, failures, failure rate, mean and p95 seconds."""
    where = [*_where(period, workflows), run_tasks.c.run_id == runs.c.run_id]
    stmt = (
        select(
            run_tasks.c.node,
            func.count().label("tasks"),
            _count_if(run_tasks.c.status == "failed").label("failed"),
            func.avg(task_seconds).label("mean_seconds"),
        )
        .where(*where)
        .group_by(run_tasks.c.node)
    )
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
        p95 = grouped_percentiles(conn, task_seconds, where, run_tasks.c.node, (0.95,))
    stats = [
        {
            "node": r.node,
            "tasks": r.tasks,
            "failed": int(r.failed),
            "failure_rate": r.failed / r.tasks if r.tasks else 0.0,
            "mean_seconds": float(r.mean_seconds) if r.mean_seconds is not None else None,
            "p95_seconds": p95.get(r.node, {}).get(0.95),
        }
        for r in rows
    ]
    return sorted(stats, key=lambda s: -(s["p95_seconds"] or 0))[:limit]


def overview(engine: Engine, period: Period, workflows: Sequence[str] = ()) -> dict[str, Any]:
    """Everything the overview page shows, as plain values (several GROUP BY queries)."""
    return {
        "figures": figures_with_change(engine, period, workflows),
        "over_time": runs_over_time(engine, period, workflows),
        "durations": histogram(engine, period, workflows, of="duration"),
        "task_counts": histogram(engine, period, workflows, of="tasks"),
        "per_workflow": per_workflow(engine, period, workflows),
        "nodes": node_stats(engine, period, workflows, limit=50),
    }
