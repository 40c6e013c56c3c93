"""Aggregates for the overview, from the rollups (orchestrator.rollup): one for runs, one for
the nodes' tasks.

>>> period = Period.last(dt.timedelta(days=7))
>>> figures(engine, period)["success_rate"]
0.93
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from orchestrator import rollup
from orchestrator.db import utcnow
from orchestrator.db.schema import DURATION_MEASURES
from orchestrator.observe.usage import usage_overview
from orchestrator.status import FINAL, RunStatus


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


def _tally(engine: Engine, period: Period, workflows: Sequence[str]) -> rollup.Tally:
    return rollup.tally(engine, period.start, period.end, workflows)


def _figures_of(tally: rollup.Tally, period: Period, workflow: str | None = None) -> dict[str, Any]:
    """The headline figures of a tally (of one workflow, or of all)."""
    totals = [0, 0, 0]
    succeeded = failed = finished = 0
    for (name, status), (count, completed, task_failures) in tally.by_status.items():
        if workflow is not None and name != workflow:
            continue
        totals[0] += count
        totals[1] += completed
        totals[2] += task_failures
        succeeded += count if status == RunStatus.SUCCEEDED else 0
        failed += count if status == RunStatus.FAILED else 0
        finished += count if status in FINAL else 0
    percentiles = {}
    for measure in DURATION_MEASURES:
        durations = [
            (index, int(count), seconds)
            for (name, kind, index), (count, seconds) in tally.durations.items()
            if kind == measure and (workflow is None or name == workflow)
        ]
        p = rollup.percentiles(durations, tally.bins, "duration", (0.5, 0.95))
        percentiles[f"p50_{measure}_seconds"] = p.get(0.5)
        percentiles[f"p95_{measure}_seconds"] = p.get(0.95)
    minutes = period.length.total_seconds() / 60
    return {
        "runs": totals[0],
        "succeeded": succeeded,
        "failed": failed,
        "success_rate": succeeded / finished if finished else None,
        **percentiles,
        "tasks_completed": totals[1],
        "tasks_failed": totals[2],
        "tasks_per_minute": totals[1] / minutes if minutes else None,
    }


def _bins(counts: dict[Any, Any], measure: str | None = None) -> dict[int, int]:
    """Runs per bin over every workflow: of a tally's task counts ((workflow, bin) -> runs), or
    of one duration `measure` ((workflow, measure, bin) -> [runs, seconds])."""
    merged: dict[int, int] = {}
    for key, value in counts.items():
        if measure is None:
            index, runs = key[1], int(value)
        elif key[1] == measure:
            index, runs = key[2], int(value[0])
        else:
            continue
        merged[index] = merged.get(index, 0) + runs
    return merged


def figures(engine: Engine, period: Period, workflows: Sequence[str] = ()) -> dict[str, Any]:
    """Headline figures of the runs created in `period`: counts, success rate, the p50/p95 of the
    finished runs' work time and of their wall time (each within its duration bin, see
    orchestrator.rollup), tasks."""
    return _figures_of(_tally(engine, period, workflows), period)


def _with_change(current: dict[str, Any], previous: dict[str, Any]) -> dict[str, Any]:
    change = {
        key: (current[key] - previous[key])
        if current[key] is not None and previous[key] is not None
        else None
        for key in current
    }
    return {"current": current, "previous": previous, "change": change}


def figures_with_change(engine: Engine, period: Period, workflows: Sequence[str] = ()) -> dict[str, Any]:
    """Figures for `period` and the previous period of the same length, and their differences."""
    return _with_change(figures(engine, period, workflows), figures(engine, period.previous(), workflows))


def _per_workflow_of(tally: rollup.Tally, period: Period) -> list[dict[str, Any]]:
    names = {name for name, _ in tally.by_status}
    table = [{"workflow": name, **_figures_of(tally, period, name)} for name in names]
    table = [row for row in table if row["runs"]]
    return sorted(table, key=lambda r: (-r["runs"], r["workflow"]))


def per_workflow(engine: Engine, period: Period, workflows: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The headline figures for each workflow, busiest first."""
    return _per_workflow_of(_tally(engine, period, workflows), period)


def _over_time_of(tally: rollup.Tally) -> list[dict[str, Any]]:
    return [
        {"bucket": bucket, "status": status, "runs": count}
        for (bucket, status), count in sorted(tally.by_bucket.items())
        if count
    ]


def runs_over_time(engine: Engine, period: Period, workflows: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Runs per hour (periods up to two days) or per day, by status: [{bucket, status, runs}],
    buckets as 'YYYY-MM-DD HH:00' (UTC)."""
    return _over_time_of(_tally(engine, period, workflows))


def _histogram_of(tally: rollup.Tally, of: str, bins: int) -> list[dict[str, Any]]:
    if of == "tasks":
        return rollup.bars(_bins(tally.tasks).items(), tally.bins, "tasks", bins)
    return rollup.bars(_bins(tally.durations, of).items(), tally.bins, "duration", bins)


def histogram(
    engine: Engine, period: Period, workflows: Sequence[str] = (), *, of: str = "work", bins: int = 20
) -> list[dict[str, Any]]:
    """Finished runs per range of work or wall time (`of`: "work", "wall"; seconds), or runs per
    range of `tasks_total` ("tasks"): [{start, end, runs}], at most `bins` bars on round bounds
    (1, 2, 5 ... per decade; see orchestrator.rollup.bars)."""
    if of not in (*DURATION_MEASURES, "tasks"):
        raise ValueError(f"of must be 'work', 'wall' or 'tasks', not {of!r}")
    return _histogram_of(_tally(engine, period, workflows), of, bins)


def node_stats(
    engine: Engine, period: Period, workflows: Sequence[str] = (), *, limit: int = 10
) -> list[dict[str, Any]]:
    """Per node, over the tasks started in the whole UTC hours `period` touches (of runs of
    `workflows`, or all): tasks, failures, failure rate, mean and p95 seconds (the p95 within its
    duration bin, as the runs'; see orchestrator.rollup). Read from the node rollup."""
    figures = rollup.node_figures(rollup.node_tally(engine, period.start, period.end, workflows))
    return sorted(figures, key=lambda s: (-(s["p95_seconds"] or 0), s["node"]))[:limit]


def overview(engine: Engine, period: Period, workflows: Sequence[str] = ()) -> dict[str, Any]:
    """Everything the overview page shows, as plain values: two tallies (this period and the one
    before) from the rollup, and the node figures from the node rollup. (It does not fold the rollups'
    deltas: a write here could wait on a busy SQLite file; the executors fold them.)"""
    current = _tally(engine, period, workflows)
    previous = _tally(engine, period.previous(), workflows)
    return {
        "figures": _with_change(_figures_of(current, period), _figures_of(previous, period.previous())),
        "over_time": _over_time_of(current),
        "durations": {measure: _histogram_of(current, measure, 20) for measure in DURATION_MEASURES},
        "task_counts": _histogram_of(current, "tasks", 20),
        "per_workflow": _per_workflow_of(current, period),
        "nodes": node_stats(engine, period, workflows, limit=50),
        # Model calls: not from the rollups but bounded indexed reads (orchestrator.observe.usage).
        "usage": usage_overview(engine, period.start, period.end, workflows, unit=period.bucket_unit),
    }
