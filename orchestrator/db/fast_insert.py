"""Many rows of one table inserted at the driver's speed: the executor's log lines.

`conn.execute(insert(table), rows)` processes every row in Python inside the transaction (a dict
per row, each value through its column's bind processor: ~10 us a row of `run_logs`), which on
SQLite holds the one write lock the saver's checkpoints wait for, and on both holds the GIL the
tasks' own event loop needs. Here the rows come already in the form the database stores (made
before the transaction, by `stored_utc` for times), and Core's own INSERT, compiled once per
table, columns and dialect, goes to the driver's `executemany` with them as they are.

On PostgreSQL the rows go by `COPY ... FROM STDIN (FORMAT BINARY)` instead, through psycopg's
own copy API on the transaction's connection: an `executemany` there runs the INSERT once per
row (psycopg adapts each row's values, the server binds, plans and executes each: about 24 us of
client CPU and 24 us of the server's a line of `run_logs`, against 5 and 10 by COPY). The
statement names only the table's own columns; every value is sent by psycopg as a binary field.

    >>> ready = stored_rows(engine.dialect, run_logs, ("run_id", "at", ...), [("r1", stored_utc(engine.dialect)(t), ...)])
    >>> with engine.begin() as conn:
    ...     ready.insert(conn)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

import psycopg
from sqlalchemy import Connection, Dialect, Table, insert
from sqlalchemy.exc import DBAPIError

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


@lru_cache(maxsize=32)
def _copy(table: Table, columns: tuple[str, ...], dialect: Dialect) -> tuple[str, tuple[str, ...]]:
    """PostgreSQL's COPY of `columns` into `table` (the names quoted as the dialect quotes them,
    taken from the Table itself) and each column's type name for psycopg's binary fields."""
    quote = dialect.identifier_preparer
    names = ", ".join(quote.format_column(table.c[name]) for name in columns)
    sql = f"COPY {quote.format_table(table)} ({names}) FROM STDIN (FORMAT BINARY)"
    # "VARCHAR(64)" -> "varchar", "TIMESTAMP WITH TIME ZONE": names psycopg's type registry knows.
    types = tuple(table.c[name].type.compile(dialect=dialect).split("(")[0].lower() for name in columns)
    return sql, types


@dataclass(frozen=True)
class StoredRows:
    """Rows ready for one executemany, or on PostgreSQL one COPY (made outside the transaction:
    `stored_rows`)."""

    sql: str
    params: list[Any]
    # PostgreSQL: the COPY's column types (`sql` is the COPY, `params` the rows' tuples).
    copy_types: tuple[str, ...] | None = None

    def insert(self, conn: Connection) -> None:
        if not self.params:
            return
        if self.copy_types is None:
            conn.exec_driver_sql(self.sql, self.params)
            return
        # In the transaction `conn` holds (psycopg's connection runs it; the COPY is one more
        # statement of it).
        driver = cast("psycopg.Connection[Any]", conn.connection.driver_connection)
        try:
            with driver.cursor() as cursor, cursor.copy(self.sql) as copy:
                copy.set_types(self.copy_types)
                for row in self.params:
                    copy.write_row(row)
        except psycopg.Error as exc:
            # As SQLAlchemy raises a driver's error (callers catch DBAPIError; outage.is_transient
            # reads `connection_invalidated`).
            raise DBAPIError.instance(
                self.sql,
                None,
                exc,
                psycopg.Error,
                connection_invalidated=conn.dialect.is_disconnect(cast(Any, exc), conn.connection, None),
                dialect=conn.dialect,
            ) from exc


def stored_rows(
    dialect: Dialect, table: Table, columns: tuple[str, ...], rows: Sequence[tuple[Any, ...]]
) -> StoredRows:
    """`rows` (tuples of `columns`' values, each as the database stores it) ready to insert in one
    executemany of `insert(table)`, in the driver's parameter style; on PostgreSQL in one COPY."""
    if dialect.name == "postgresql":
        sql, types = _copy(table, columns, dialect)
        return StoredRows(sql, list(rows), types)
    sql, order = _compiled(table, columns, dialect)
    if order is None:  # a named parameter style: one dict per row
        params: list[Any] = [dict(zip(columns, row, strict=True)) for row in rows]
    elif order == columns:
        params = list(rows)
    else:
        at = [columns.index(name) for name in order]
        params = [tuple(row[i] for i in at) for row in rows]
    return StoredRows(sql, params)
