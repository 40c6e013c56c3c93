"""Folding the rollups' deltas: what the triggers on `runs` and `run_tasks` append (migrations
0011, 0013, 0014) is added into the rollup tables, one row per key, and the deltas deleted, in
one transaction. Executors fold every few seconds; reads take the deltas not folded yet too."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Engine, String, delete, func, literal, select
from sqlalchemy.exc import DBAPIError

from orchestrator.db import dialect_insert
from orchestrator.db.schema import (
    DURATION_MEASURES,
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

logger = logging.getLogger("orchestrator.rollup")


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
                select(
                    d.day, d.workflow, literal(measure, String(10)), bin_, func.sum(d.runs), func.sum(seconds)
                )
                .where(upto, bin_.is_not(None))
                .group_by(d.day, d.workflow, bin_),
            )
            for measure, bin_, seconds in measure_columns(d)
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


def measure_columns(d: Any) -> list[tuple[str, Any, Any]]:
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
