"""Many rows of one table inserted at the driver's speed: the executor's log lines.

`conn.execute(insert(table), rows)` processes every row in Python inside the transaction (a dict
per row, each value through its column's bind processor: ~10 us a row of `run_logs`), which on
SQLite holds the one write lock the saver's checkpoints wait for, and on both holds the GIL the
tasks' own event loop needs. Here the rows come already in the form the database stores (made
before the transaction, by `stored_utc` for times), and Core's own INSERT, compiled once per
table, columns and dialect, goes to the driver's `executemany` with them as they are.

    >>> ready = stored_rows(engine.dialect, run_logs, ("run_id", "at", ...), [("r1", stored_utc(engine.dialect)(t), ...)])
    >>> with engine.begin() as conn:
    ...     ready.insert(conn)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Dialect, Table, insert

_EPOCH_NAIVE = dt.datetime(1970, 1, 1)
_SECOND = dt.timedelta(seconds=1)


def _sqlite_utc(created: float) -> str:
    # schema.UTCDateTime's SQLite form: naive UTC text, microseconds always written (it sorts).
    return (_EPOCH_NAIVE + created * _SECOND).isoformat(" ", "microseconds")


def _aware_utc(created: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(created, dt.UTC)


def stored_utc(dialect: Dialect) -> Callable[[float], Any]:
    """A POSIX time (`time.time()`, a LogRecord's `created`) as a `UTCDateTime` column stores it
    on this database: SQLite's UTC text, PostgreSQL's timestamptz (an aware datetime)."""
    return _sqlite_utc if dialect.name == "sqlite" else _aware_utc


@lru_cache(maxsize=32)
def _compiled(table: Table, columns: tuple[str, ...], dialect: Dialect) -> tuple[str, tuple[str, ...] | None]:
    compiled = insert(table).compile(dialect=dialect, column_keys=list(columns), for_executemany=True)
    order = tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else None
    return compiled.string, order


@dataclass(frozen=True)
class StoredRows:
    """Rows ready for one executemany (made outside the transaction: `stored_rows`)."""

    sql: str
    params: list[Any]

    def insert(self, conn: Connection) -> None:
        if self.params:
            conn.exec_driver_sql(self.sql, self.params)


def stored_rows(
    dialect: Dialect, table: Table, columns: tuple[str, ...], rows: Sequence[tuple[Any, ...]]
) -> StoredRows:
    """`rows` (tuples of `columns`' values, each as the database stores it) ready to insert in one
    executemany of `insert(table)`, in the driver's parameter style."""
    sql, order = _compiled(table, columns, dialect)
    if order is None:  # a named parameter style (psycopg): one dict per row
        params: list[Any] = [dict(zip(columns, row, strict=True)) for row in rows]
    elif order == columns:
        params = list(rows)
    else:
        at = [columns.index(name) for name in order]
        params = [tuple(row[i] for i in at) for row in rows]
    return StoredRows(sql, params)
