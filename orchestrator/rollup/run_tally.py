"""What the runs of a period add up to (the overview's run figures): whole UTC days from the
rollups and the deltas not folded yet, the ragged ends (and any period of two days or less,
whose chart is hourly) from the runs themselves, binned here as the triggers bin them."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, String, func, literal, select, union_all

from orchestrator.db import runs, time_bucket
from orchestrator.db.schema import rollup_deltas, rollup_durations, rollup_status, rollup_tasks
from orchestrator.rollup.bins import Bins, load_bins
from orchestrator.rollup.fold import measure_columns

HOURLY_UP_TO = dt.timedelta(days=2)  # periods this short are charted by the hour: read from runs


@dataclass
class Tally:
    """What the runs of a period add up to, per workflow (and per UTC day or hour for charts),
    with the `bins` its durations and task counts are counted in."""

    bins: Bins
    # (workflow, status) -> [runs, tasks_completed, tasks_failed]
    by_status: dict[tuple[str, str], list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0, 0])
    )
    # (bucket, status) -> runs; buckets ('YYYY-MM-DD HH:00', UTC) are days, or hours for periods
    # of two days or less
    by_bucket: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    # (workflow, measure, bin) -> [runs, their seconds' sum]; measure: "work" or "wall"
    durations: dict[tuple[str, str, int], list[float]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0.0])
    )
    # (workflow, bin) -> runs
    tasks: dict[tuple[str, int], int] = field(default_factory=lambda: defaultdict(int))


def whole_days(start: dt.datetime, end: dt.datetime) -> tuple[dt.date, dt.date] | None:
    """The UTC days wholly inside [start, end), as [first, last) — None if there are none, or if
    the period is charted by the hour (two days or less): then it is read from the runs alone."""
    if end - start <= HOURLY_UP_TO:
        return None
    first = (start.astimezone(dt.UTC) + dt.timedelta(days=1) - dt.timedelta(microseconds=1)).date()
    last = end.astimezone(dt.UTC).date()
    return (first, last) if first < last else None


def tally(engine: Engine, start: dt.datetime, end: dt.datetime, workflows: Sequence[str] = ()) -> Tally:
    """Add up the runs created in [start, end) (of `workflows`, or all)."""
    result = Tally(load_bins(engine))
    days = whole_days(start, end)
    hourly = end - start <= HOURLY_UP_TO
    with engine.connect() as conn:
        if days is None:
            _add_runs(conn, result, start, end, workflows, hourly)
            return result
        first, last = days
        day_start = dt.datetime.combine(first, dt.time(), dt.UTC)
        day_end = dt.datetime.combine(last, dt.time(), dt.UTC)
        if start < day_start:
            _add_runs(conn, result, start, day_start, workflows, hourly)
        if day_end < end:
            _add_runs(conn, result, day_end, end, workflows, hourly)
        _add_days(conn, result, first, last, workflows)
    return result


def _add_days(conn: Any, result: Tally, first: dt.date, last: dt.date, workflows: Sequence[str]) -> None:
    """The whole days [first, last): the rollups plus the deltas not folded yet."""
    d = rollup_deltas.c

    def within(table: Any) -> list[Any]:
        conds = [table.c.day >= first, table.c.day < last]
        if workflows:
            conds.append(table.c.workflow.in_(list(workflows)))
        return conds

    status_rows = union_all(
        select(
            rollup_status.c.day,
            rollup_status.c.workflow,
            rollup_status.c.status,
            rollup_status.c.runs,
            rollup_status.c.tasks_completed,
            rollup_status.c.tasks_failed,
        ).where(*within(rollup_status)),
        select(d.day, d.workflow, d.status, d.runs, d.tasks_completed, d.tasks_failed).where(
            *within(rollup_deltas)
        ),
    ).subquery()
    s = status_rows.c
    stmt = select(
        s.day, s.workflow, s.status, func.sum(s.runs), func.sum(s.tasks_completed), func.sum(s.tasks_failed)
    ).group_by(s.day, s.workflow, s.status)
    for day, workflow, status, count, completed, failed in conn.execute(stmt):
        if not count and not completed and not failed:
            continue
        totals = result.by_status[(workflow, status)]
        totals[0] += int(count)
        totals[1] += int(completed)
        totals[2] += int(failed)
        if count:
            result.by_bucket[(f"{_as_date(day).isoformat()} 00:00", status)] += int(count)
    durations = union_all(
        select(
            rollup_durations.c.workflow,
            rollup_durations.c.measure,
            rollup_durations.c.bin,
            rollup_durations.c.runs,
            rollup_durations.c.seconds,
        ).where(*within(rollup_durations)),
        *(
            select(d.workflow, literal(measure, String(10)), bin_, d.runs, seconds).where(
                *within(rollup_deltas), bin_.is_not(None)
            )
            for measure, bin_, seconds in measure_columns(d)
        ),
    ).subquery()
    u = durations.c
    stmt = select(u.workflow, u.measure, u.bin, func.sum(u.runs), func.sum(u.seconds)).group_by(
        u.workflow, u.measure, u.bin
    )
    for workflow, measure, index, count, seconds in conn.execute(stmt):
        if count:
            binned = result.durations[(workflow, measure, int(index))]
            binned[0] += int(count)
            binned[1] += float(seconds)
    tasks = union_all(
        select(rollup_tasks.c.workflow, rollup_tasks.c.bin, rollup_tasks.c.runs).where(*within(rollup_tasks)),
        select(d.workflow, d.tasks_bin, d.runs).where(*within(rollup_deltas)),
    ).subquery()
    t = tasks.c
    stmt = select(t.workflow, t.bin, func.sum(t.runs)).group_by(t.workflow, t.bin)
    for workflow, index, count in conn.execute(stmt):
        if count:
            result.tasks[(workflow, int(index))] += int(count)


def _add_runs(
    conn: Any, result: Tally, start: dt.datetime, end: dt.datetime, workflows: Sequence[str], hourly: bool
) -> None:
    """Runs created in [start, end), read and binned here (a part of a day, or a short period)."""
    r = runs.c
    bucket = time_bucket(r.created_at, "hour" if hourly else "day")
    conds = [r.created_at >= start, r.created_at < end]
    if workflows:
        conds.append(r.workflow.in_(list(workflows)))
    stmt = (
        select(
            bucket,
            r.workflow,
            r.status,
            r.work_seconds,
            r.wall_seconds,
            r.tasks_total,
            func.count(),
            func.sum(r.tasks_completed),
            func.sum(r.tasks_failed),
        )
        .where(*conds)
        .group_by(bucket, r.workflow, r.status, r.work_seconds, r.wall_seconds, r.tasks_total)
    )
    for at, workflow, status, work, wall, total, count, completed, failed in conn.execute(stmt):
        totals = result.by_status[(workflow, status)]
        totals[0] += count
        totals[1] += int(completed)
        totals[2] += int(failed)
        result.by_bucket[(at, status)] += count
        # A run's durations count once it has finished (its wall time is set), as the triggers do.
        if wall is not None:
            for measure, seconds in (("work", work), ("wall", wall)):
                if seconds is not None:
                    binned = result.durations[(workflow, measure, result.bins.of("duration", float(seconds)))]
                    binned[0] += count
                    binned[1] += float(seconds) * count
        result.tasks[(workflow, result.bins.of("tasks", float(total)))] += count


def _as_date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
