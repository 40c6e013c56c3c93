"""An independent check of the overview's rollups: the runs and their tasks as stored, added up
here in Python (bins found with bisect over the package's bounds), against the rollups plus the
unfolded deltas as the triggers and `compact` left them. conftest runs it after every test that had a
database, so every write path the suite walks (kills, outages, forks, deletes) is checked.

Since migration 0014 a finished run (its wall time set) counts its work and its wall time, each
under its measure, and a task's seconds run from its work's start (`work_started_at`, else
`started_at`) to its end, none for a task cancelled before its work began; a database left at
an earlier revision is checked as that revision kept it."""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from typing import Any

import pytest
from sqlalchemy import Engine, column, inspect, select, table, text

from orchestrator.db import run_tasks, runs
from orchestrator.db.schema import (
    node_days,
    node_days_all,
    node_deltas,
    node_hours,
    node_hours_all,
    rollup_status,
    rollup_tasks,
)


def _day(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _measures(conn: Any) -> bool:
    """Whether the database keeps work and wall time apart (migration 0014 on)."""
    return "wall_seconds" in {c["name"] for c in inspect(conn).get_columns("runs")}


def expected_from_runs(conn: Any) -> dict[str, dict[tuple, list[float]]]:
    status: dict[tuple, list[float]] = defaultdict(lambda: [0, 0, 0])
    durations: dict[tuple, list[float]] = defaultdict(lambda: [0, 0.0])
    tasks: dict[tuple, list[float]] = defaultdict(lambda: [0])
    measures = _measures(conn)
    lowers = db_lowers(conn)
    names = ("work_seconds", "wall_seconds") if measures else ("duration_seconds", "duration_seconds")
    columns = [column(name) for name in ("created_at", "workflow", "status", *names)]
    columns += [column(name) for name in ("tasks_total", "tasks_completed", "tasks_failed")]
    stmt = select(*columns).select_from(table("runs"))
    for created, workflow, state, work, wall, total, completed, failed in conn.execute(stmt):
        day = _day(created)
        s = status[(day, workflow, state)]
        s[0] += 1
        s[1] += completed
        s[2] += failed
        if wall is not None:
            for measure, seconds in (("work", work), ("wall", wall)) if measures else (("", wall),):
                if seconds is None:
                    continue
                d = durations[
                    (day, workflow, *([measure] if measures else []), bisect_bin(lowers, "duration", seconds))
                ]
                d[0] += 1
                d[1] += seconds
        tasks[(day, workflow, bisect_bin(lowers, "tasks", total))][0] += 1
    return {"status": dict(status), "durations": dict(durations), "tasks": dict(tasks)}


# rollup_durations' columns since 0014 (keyed by measure) and before.
DURATION_COLUMNS = {
    True: ("day", "workflow", "measure", "bin", "runs", "seconds"),
    False: ("day", "workflow", "bin", "runs", "seconds"),
}


def db_lowers(conn: Any) -> dict[str, list[float]]:
    """The bins' lower bounds as the database holds them (`rollup_bins`, what the triggers read):
    not the package's reading of them."""
    lowers: dict[str, list[float]] = {}
    rows = conn.execute(text("SELECT measure, lower FROM rollup_bins ORDER BY measure, bin"))
    for measure, lower in rows:
        lowers.setdefault(measure, []).append(float(lower))
    return lowers


def bisect_bin(lowers: dict[str, list[float]], measure: str, value: float) -> int:
    """The bin of `value`: the last whose lower bound is <= value."""
    return bisect.bisect_right(lowers[measure], value) - 1


def stored_rollup(conn: Any) -> dict[str, dict[tuple, list[float]]]:
    status: dict[tuple, list[float]] = defaultdict(lambda: [0, 0, 0])
    durations: dict[tuple, list[float]] = defaultdict(lambda: [0, 0.0])
    tasks: dict[tuple, list[float]] = defaultdict(lambda: [0])
    for day, workflow, state, count, completed, failed in conn.execute(select(rollup_status)):
        s = status[(_day(day), workflow, state)]
        s[0] += count
        s[1] += completed
        s[2] += failed
    measures = _measures(conn)
    for day, workflow, *key, count, seconds in conn.execute(
        select(table("rollup_durations", *(column(c) for c in DURATION_COLUMNS[measures])))
    ):
        d = durations[(_day(day), workflow, *key)]
        d[0] += count
        d[1] += seconds
    for day, workflow, index, count in conn.execute(select(rollup_tasks)):
        tasks[(_day(day), workflow, index)][0] += count
    kinds = (
        (("work", "work_bin", "work_seconds"), ("wall", "wall_bin", "wall_seconds"))
        if measures
        else ((None, "duration_bin", "duration_seconds"),)
    )
    for kind, bin_column, seconds_column in kinds:
        stmt = select(
            *[column(name) for name in ("day", "workflow", "status", bin_column, "tasks_bin", "runs")],
            *[column(name) for name in ("tasks_completed", "tasks_failed", seconds_column)],
        ).select_from(table("rollup_deltas"))
        for day, workflow, state, duration_bin, tasks_bin, count, completed, failed, seconds in conn.execute(
            stmt
        ):
            if kind != "wall":  # status and task counts once per delta
                s = status[(_day(day), workflow, state)]
                s[0] += count
                s[1] += completed
                s[2] += failed
                tasks[(_day(day), workflow, tasks_bin)][0] += count
            if duration_bin is not None:
                b = durations[(_day(day), workflow, *([kind] if kind else []), duration_bin)]
                b[0] += count
                b[1] += seconds

    def nonzero(table: dict[tuple, list[float]]) -> dict[tuple, list[float]]:
        return {key: value for key, value in table.items() if any(abs(v) > 1e-6 for v in value)}

    return {"status": nonzero(status), "durations": nonzero(durations), "tasks": nonzero(tasks)}


def _aware(value: Any) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def expected_nodes(conn: Any) -> dict[str, dict[tuple, list[float]]]:
    """Per (hour, workflow, node, bin) and per (day, ...): [tasks, failed, seconds], from the tasks."""
    hours: dict[tuple, list[float]] = defaultdict(lambda: [0, 0, 0.0])
    stmt = select(
        run_tasks.c.started_at,
        run_tasks.c.work_started_at,
        run_tasks.c.finished_at,
        run_tasks.c.status,
        run_tasks.c.node,
        runs.c.workflow,
    ).join_from(run_tasks, runs, run_tasks.c.run_id == runs.c.run_id)
    work_time = _measures(conn)  # 0014 on: a task's seconds are its work's
    lowers = db_lowers(conn)
    for started, work_started, finished, state, node, workflow in conn.execute(stmt):
        started = _aware(started).astimezone(dt.UTC)
        work_start = _aware(work_started or started) if work_time else started
        no_work = finished is None or (work_time and state == "cancelled")
        seconds = None if no_work else (_aware(finished) - work_start).total_seconds()
        index = -1 if seconds is None else bisect_bin(lowers, "duration", seconds)
        h = hours[(started.strftime("%Y-%m-%d %H"), workflow, node, index)]
        h[0] += 1
        h[1] += state == "failed"
        h[2] += seconds or 0.0
    parts: dict[str, dict[tuple, list[float]]] = {"hours": dict(hours)}
    for part, key_of in (
        ("days", lambda hour, workflow, node, index: (hour[:10], workflow, node, index)),
        ("hours_all", lambda hour, workflow, node, index: (hour, node, index)),
        ("days_all", lambda hour, workflow, node, index: (hour[:10], node, index)),
    ):
        summed: dict[tuple, list[float]] = defaultdict(lambda: [0, 0, 0.0])
        for key, values in hours.items():
            into = summed[key_of(*key)]
            for i, v in enumerate(values):
                into[i] += v
        parts[part] = dict(summed)
    return parts


def stored_nodes(conn: Any) -> dict[str, dict[tuple, list[float]]]:
    tables = {"hours": node_hours, "days": node_days, "hours_all": node_hours_all, "days_all": node_days_all}
    found: dict[str, dict[tuple, list[float]]] = {part: defaultdict(lambda: [0, 0, 0.0]) for part in tables}
    for part, stored in tables.items():
        for *key, tasks, failed, seconds in conn.execute(select(stored)):
            values = found[part][tuple(key)]
            values[0] += tasks
            values[1] += failed
            values[2] += seconds
    d = node_deltas.c
    stmt = select(d.hour, d.workflow, d.node, d.bin, d.tasks, d.failed, d.seconds)
    for hour, workflow, node, index, tasks, failed, seconds in conn.execute(stmt):
        keys = {
            "hours": (hour, workflow, node, index),
            "days": (hour[:10], workflow, node, index),
            "hours_all": (hour, node, index),
            "days_all": (hour[:10], node, index),
        }
        for part, key in keys.items():
            values = found[part][key]
            values[0] += tasks
            values[1] += failed
            values[2] += seconds
    return {
        part: {k: v for k, v in table.items() if any(abs(x) > 1e-6 for x in v)}
        for part, table in found.items()
    }


def assert_rollup_matches(engine: Engine) -> None:
    """The rollup (folded and not) adds up to exactly the runs stored now."""
    if "rollup_bins" not in inspect(engine).get_table_names():
        return  # a database left before migration 0011 (or none at all)
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            expected = expected_from_runs(conn)
            stored = stored_rollup(conn)
            nodes = "node_deltas" in inspect(conn).get_table_names()
            if nodes:  # migration 0013 on
                expected.update(expected_nodes(conn))
                stored.update(stored_nodes(conn))
    node_parts = ("hours", "days", "hours_all", "days_all") if nodes else ()
    for part in ("status", "durations", "tasks", *node_parts):
        assert set(stored[part]) == set(expected[part]), f"rollup {part} keys differ from the runs"
        for key, want in expected[part].items():
            assert stored[part][key] == pytest.approx(want, abs=1e-6), f"rollup {part} {key}"
