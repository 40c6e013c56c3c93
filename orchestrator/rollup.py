"""The overview's rollup: what the runs of a period add up to, without reading every run.

Triggers on `runs` (migrations 0011, 0014) append every change of a run to `rollup_deltas` in
the writer's own transaction; `compact` folds those deltas into one row per UTC day and workflow
and status (`rollup_status`), duration measure and bin (`rollup_durations`: a finished run's work
time and its wall time) or task-count bin (`rollup_tasks`). `tally` adds up a period: whole UTC days from the rollups and the deltas not
yet folded, and the ragged ends (and any period of two days or less, whose chart is hourly)
from the runs themselves, binned here exactly as the triggers bin them.

Durations and task counts are kept per bin (40 bins per decade, at most 9.1 % wide), so the
percentiles read from a tally are interpolated within their bin: within a few percent of the
exact value, never outside the bin that holds it.
"""

from __future__ import annotations

import bisect
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, String, delete, func, literal, select, union_all
from sqlalchemy.exc import DBAPIError

from orchestrator.db import dialect_insert, runs, time_bucket
from orchestrator.db.schema import (
    DURATION_MEASURES,
    NO_WORK_BIN,
    node_days,
    node_days_all,
    node_deltas,
    node_hours,
    node_hours_all,
    rollup_deltas,
    rollup_durations,
    rollup_status,
    rollup_tasks,
)

logger = logging.getLogger(__name__)

# Each decade is cut at these 40 multipliers (1, 2 and 5 among them, so bars can be merged on
# round numbers); migration 0011 wrote the same bounds into `rollup_bins`.
NICE = [
    "1.0",
    "1.05",
    "1.1",
    "1.15",
    "1.2",
    "1.3",
    "1.4",
    "1.5",
    "1.6",
    "1.7",
    "1.8",
    "1.9",
    "2.0",
    "2.1",
    "2.2",
    "2.4",
    "2.5",
    "2.6",
    "2.8",
    "3.0",
    "3.2",
    "3.4",
    "3.6",
    "3.8",
    "4.0",
    "4.2",
    "4.5",
    "4.8",
    "5.0",
    "5.3",
    "5.6",
    "6.0",
    "6.3",
    "6.7",
    "7.0",
    "7.5",
    "8.0",
    "8.5",
    "9.0",
    "9.5",
]
BELOW_ALL = -1e300
# Duration bins (seconds): under 1 ms, then 1 ms .. 1,000,000 s (11.6 days), then above.
DURATION_LOWERS: tuple[float, ...] = (
    BELOW_ALL,
    *(float(Decimal(m).scaleb(k)) for k in range(-3, 6) for m in NICE),
    1e6,
)
# Task-count bins: each count up to 29 on its own, then the round multipliers up to 10,000,000.
TASK_LOWERS: tuple[float, ...] = tuple(
    float(v)
    for v in [
        *range(30),
        *sorted(
            int(v)
            for v in {Decimal(m).scaleb(k) for k in range(1, 7) for m in NICE}
            if v == v.to_integral_value() and v >= 30
        ),
        10**7,
    ]
)
LOWERS = {"duration": DURATION_LOWERS, "tasks": TASK_LOWERS}
HOURLY_UP_TO = dt.timedelta(days=2)  # periods this short are charted by the hour: read from runs


def bin_of(measure: str, value: float) -> int:
    """The bin `value` falls in: the last whose lower bound is <= value (as the triggers choose)."""
    return bisect.bisect_right(LOWERS[measure], value) - 1


def bin_bounds(measure: str, index: int) -> tuple[float, float]:
    """[lower, upper) of a bin; the first starts at 0, the last is as wide as the one before it."""
    lowers = LOWERS[measure]
    lower = 0.0 if index == 0 else lowers[index]
    upper = lowers[index + 1] if index + 1 < len(lowers) else lowers[index] * 1.05
    return lower, upper


@dataclass
class Tally:
    """What the runs of a period add up to, per workflow (and per UTC day or hour for charts)."""

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


def compact(engine: Engine) -> int:
    """Fold the deltas into the rollups; returns how many were folded (0 if another process is
    folding now, or the database cannot be written: the deltas are read as they are)."""
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                # One folder at a time, and one snapshot: the deltas folded are the deltas deleted.
                # (Should a folder's snapshot predate another's commit, its DELETE of a delta the
                # other deleted fails to serialise, and its whole fold rolls back.)
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
                with conn.begin():
                    if not conn.execute(select(func.pg_try_advisory_xact_lock(COMPACT_LOCK_KEY))).scalar():
                        return 0
                    return _fold(conn)
            # SQLite: BEGIN IMMEDIATE, the write lock first (a deferred transaction that reads,
            # then writes, fails at once when another writer holds the lock).
            with conn.execution_options(sqlite_write=True).begin():
                return _fold(conn)
    except DBAPIError as exc:
        logger.warning(
            "Could not fold the overview's rollup deltas (%s); they are read unfolded until the next try.",
            type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__,
        )
        return 0


COMPACT_LOCK_KEY = 0x6F72636A


def _fold(conn: Any) -> int:
    return _fold_runs(conn) + _fold_nodes(conn)


def _fold_runs(conn: Any) -> int:
    last = conn.execute(select(func.max(rollup_deltas.c.id))).scalar()
    if last is None:
        return 0
    d = rollup_deltas.c
    upto = d.id <= last
    folds = (
        (
            rollup_status,
            ("day", "workflow", "status"),
            select(
                d.day,
                d.workflow,
                d.status,
                func.sum(d.runs),
                func.sum(d.tasks_completed),
                func.sum(d.tasks_failed),
            )
            .where(upto)
            .group_by(d.day, d.workflow, d.status),
        ),
        *(
            (
                rollup_durations,
                ("day", "workflow", "measure", "bin"),
                select(d.day, d.workflow, literal(measure, String(10)), bin_, func.sum(d.runs), func.sum(seconds))
                .where(upto, bin_.is_not(None))
                .group_by(d.day, d.workflow, bin_),
            )
            for measure, bin_, seconds in _measures(d)
        ),
        (
            rollup_tasks,
            ("day", "workflow", "bin"),
            select(d.day, d.workflow, d.tasks_bin, func.sum(d.runs))
            .where(upto)
            .group_by(d.day, d.workflow, d.tasks_bin),
        ),
    )
    for table, keys, sums in folds:
        _add_into(conn, table, len(keys), sums, select(d.day).where(upto).distinct(), table.c.runs)
    folded = conn.execute(delete(rollup_deltas).where(upto)).rowcount
    return int(folded)


def _measures(d: Any) -> list[tuple[str, Any, Any]]:
    """Each duration measure with its bin and seconds columns in `rollup_deltas`."""
    return [(measure, d[f"{measure}_bin"], d[f"{measure}_seconds"]) for measure in DURATION_MEASURES]


def _add_into(conn: Any, table: Any, keys: int, sums: Any, touched: Any, count: Any) -> None:
    """Add `sums` (its first `keys` columns are the table's key) into `table`. A key whose
    `count` adds up to nothing (every run or task there moved or was deleted) is dropped; only
    the `touched` days or hours are looked at, so the write lock is held briefly."""
    columns = [c.name for c in table.columns]
    insert = dialect_insert(conn, table).from_select(columns, sums)
    insert = insert.on_conflict_do_update(
        index_elements=columns[:keys], set_={c: table.c[c] + insert.excluded[c] for c in columns[keys:]}
    )
    conn.execute(insert)
    conn.execute(delete(table).where(count == 0, table.c[columns[0]].in_(touched)))


def _fold_nodes(conn: Any) -> int:
    last = conn.execute(select(func.max(node_deltas.c.id))).scalar()
    if last is None:
        return 0
    d = node_deltas.c
    upto = d.id <= last
    day = func.substr(d.hour, 1, 10)
    folds = (
        (node_hours, [d.hour, d.workflow]),
        (node_days, [day, d.workflow]),
        (node_hours_all, [d.hour]),  # every workflow at once
        (node_days_all, [day]),
    )
    for table, leading in folds:
        grouping = [*leading, d.node, d.bin]
        sums = (
            select(*grouping, func.sum(d.tasks), func.sum(d.failed), func.sum(d.seconds))
            .where(upto)
            .group_by(*grouping)
        )
        _add_into(conn, table, len(grouping), sums, select(leading[0]).where(upto).distinct(), table.c.tasks)
    return int(conn.execute(delete(node_deltas).where(upto)).rowcount)


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
    result = Tally()
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
            for measure, bin_, seconds in _measures(d)
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
                    binned = result.durations[(workflow, measure, bin_of("duration", float(seconds)))]
                    binned[0] += count
                    binned[1] += float(seconds) * count
        result.tasks[(workflow, bin_of("tasks", float(total)))] += count


def _as_date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def percentiles(
    counts: Iterable[tuple[int, int, float]], measure: str, fractions: Sequence[float]
) -> dict[float, float]:
    """percentile_cont's fractions of the values counted per bin ([(bin, runs, their sum)]).

    A bin's values are placed evenly around their mean (exact: the sum is kept), as widely
    as the bin allows; then neighbours are interpolated as percentile_cont does. So a value
    alone in its bin is exact, and any other is within its bin. Empty counts give {}."""
    ordered = sorted((b, n, total) for b, n, total in counts if n > 0)
    size = sum(n for _, n, _ in ordered)
    if not size:
        return {}

    def value_at(rank: int) -> float:  # rank 0 .. size-1
        seen = 0
        for index, n, total in ordered:
            if rank < seen + n:
                lower, upper = bin_bounds(measure, index)
                mean = min(max(total / n, lower), upper)
                if n == 1:
                    return mean
                step = min((upper - lower) / n, 2 * (mean - lower) / (n - 1), 2 * (upper - mean) / (n - 1))
                return mean + (rank - seen - (n - 1) / 2) * step
            seen += n
        raise AssertionError("rank beyond the counted values")

    result = {}
    for f in fractions:
        position = (size - 1) * f
        below = int(position)
        above = min(below + 1, size - 1)
        low = value_at(below)
        result[f] = low + (value_at(above) - low) * (position - below)
    return result


# Bars of the histograms: the finest of these round cuts (per decade) that gives at most the
# bars asked for. Every cut is a bin bound, so bars add up whole bins.
BAR_CUTS = (
    ("1",),
    ("1", "2", "5"),
    ("1", "1.5", "2", "3", "5", "7"),
    ("1", "1.2", "1.5", "2", "2.5", "3", "4", "5", "6", "8"),
    tuple(NICE),
)


def bars(counts: Iterable[tuple[int, int]], measure: str, most: int = 20) -> list[dict[str, Any]]:
    """Histogram bars [{start, end, runs}] over the bins counted ([(bin, runs)]), from the first
    bin with runs to the last, on round bounds, at most `most` bars (each bin in one bar)."""
    counted = {b: n for b, n in counts if n > 0}
    if not counted:
        return []
    first, last = min(counted), max(counted)
    lowers = LOWERS[measure]
    for cuts in reversed(BAR_CUTS):  # finest first
        wanted = {Decimal(c) for c in cuts}
        starts = [i for i in range(first, last + 1) if i == first or _mantissa(lowers[i]) in wanted]
        if len(starts) <= most or cuts is BAR_CUTS[0]:
            break
    result = []
    for k, begin in enumerate(starts):
        stop = starts[k + 1] if k + 1 < len(starts) else last + 1
        lower = bin_bounds(measure, begin)[0]
        upper = bin_bounds(measure, stop - 1)[1]
        result.append(
            {"start": lower, "end": upper, "runs": sum(counted.get(i, 0) for i in range(begin, stop))}
        )
    return result


def _mantissa(value: float) -> Decimal:
    if value <= 0:
        return Decimal(0)
    d = Decimal(repr(value)).normalize()
    return d.scaleb(-d.adjusted()).normalize()


# -- nodes -----------------------------------------------------------------------------------


@dataclass
class NodeTally:
    """What the tasks started in a period add up to, per node: by the bin of their work time
    (NO_WORK_BIN for tasks without one yet or at all) [tasks, their seconds' sum], and failed
    tasks."""

    bins: dict[str, dict[int, list[float]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(lambda: [0, 0.0]))
    )
    failed: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def whole_hours(start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The whole UTC hours [start, end) touches: node figures are kept per hour."""
    first = start.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    last = end.astimezone(dt.UTC)
    if last != last.replace(minute=0, second=0, microsecond=0):
        last = last.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    return first, last


def _hour_key(at: dt.datetime) -> str:
    return at.strftime("%Y-%m-%d %H")


def node_tally(
    engine: Engine, start: dt.datetime, end: dt.datetime, workflows: Sequence[str] = ()
) -> NodeTally:
    """Add up the tasks started in the whole UTC hours [start, end) touches (of runs of
    `workflows`, or all): whole days from `node_days`, other hours from `node_hours`, and the
    deltas not yet folded."""
    first, last = whole_hours(start, end)
    day_first = (first + dt.timedelta(hours=23)).replace(hour=0)
    day_last = last.replace(hour=0)
    parts = []

    def of(table: Any, key: Any, low: str, high: str) -> Any:
        conds = [key >= low, key < high]
        if workflows:
            conds.append(table.c.workflow.in_(list(workflows)))
        return select(table.c.node, table.c.bin, table.c.tasks, table.c.failed, table.c.seconds).where(*conds)

    # Every workflow: the rollups kept without the workflow (a few times fewer rows).
    days, hours = (node_days, node_hours) if workflows else (node_days_all, node_hours_all)
    if day_first < day_last:
        parts.append(of(days, days.c.day, day_first.strftime("%Y-%m-%d"), day_last.strftime("%Y-%m-%d")))
        hour_ranges = [(first, day_first), (day_last, last)]
    else:
        hour_ranges = [(first, last)]
    for low, high in hour_ranges:
        if low < high:
            parts.append(of(hours, hours.c.hour, _hour_key(low), _hour_key(high)))
    parts.append(of(node_deltas, node_deltas.c.hour, _hour_key(first), _hour_key(last)))
    rows = union_all(*parts).subquery()
    r = rows.c
    stmt = select(r.node, r.bin, func.sum(r.tasks), func.sum(r.failed), func.sum(r.seconds)).group_by(
        r.node, r.bin
    )
    result = NodeTally()
    with engine.connect() as conn:
        for node, index, tasks, failed, seconds in conn.execute(stmt):
            if not tasks:
                continue
            binned = result.bins[node][int(index)]
            binned[0] += int(tasks)
            binned[1] += float(seconds)
            result.failed[node] += int(failed)
    return result


def node_figures(tally: NodeTally) -> list[dict[str, Any]]:
    """Per node: tasks, failed, failure rate, mean and p95 seconds (of its finished tasks)."""
    figures = []
    for node, bins in tally.bins.items():
        tasks = sum(int(n) for n, _ in bins.values())
        finished = [(index, int(n), total) for index, (n, total) in bins.items() if index != NO_WORK_BIN]
        done = sum(n for _, n, _ in finished)
        failed = tally.failed.get(node, 0)
        figures.append(
            {
                "node": node,
                "tasks": tasks,
                "failed": failed,
                "failure_rate": failed / tasks if tasks else 0.0,
                "mean_seconds": sum(total for _, _, total in finished) / done if done else None,
                "p95_seconds": percentiles(finished, "duration", (0.95,)).get(0.95),
            }
        )
    return figures
