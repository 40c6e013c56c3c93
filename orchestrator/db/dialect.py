"""SQL that is spelled differently on SQLite and PostgreSQL, each as one construct or function.

A custom construct (`FunctionElement` + `@compiles`) must put everything that changes its SQL
into SQLAlchemy's statement cache key: its arguments are clauses (bound parameters or
columns), and a variant that changes the SQL text is a class of its own. A plain Python
attribute would be cached away: the first statement compiled would fix it for the process.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Float,
    Integer,
    String,
    Table,
    case,
    cast,
    func,
    inspect,
    literal,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement
from sqlalchemy.types import Text

# -- seconds between two timestamps -----------------------------------------------------------


class seconds_between(FunctionElement[float]):
    """Seconds from the first timestamp to the second, as a float, on either backend."""

    type = Float()
    inherit_cache = True


@compiles(seconds_between, "postgresql")
def _seconds_between_pg(element: seconds_between, compiler: Any, **kw: Any) -> str:
    start, end = list(element.clauses)
    return f"EXTRACT(EPOCH FROM ({compiler.process(end, **kw)} - {compiler.process(start, **kw)}))"


@compiles(seconds_between, "sqlite")
def _seconds_between_sqlite(element: seconds_between, compiler: Any, **kw: Any) -> str:
    # Whole microseconds of each stored text ('YYYY-MM-DD HH:MM:SS.ffffff'), subtracted as integers
    # and divided once: the float Python's timedelta.total_seconds() gives, and what the rollup
    # triggers (migration 0014) compute, so a duration read here and one read from the rollup
    # agree to the last digit. strftime('%s') of the whole text would round a time at .9995 s or
    # later up to the next second; subtracting the fractions as floats is off in the last bits.
    start, end = (compiler.process(c, **kw) for c in element.clauses)

    def micros(ts: str) -> str:
        return f"(CAST(strftime('%s', substr({ts}, 1, 19)) AS INTEGER) * 1000000 + CAST(substr({ts}, 21) AS INTEGER))"

    return f"(({micros(end)} - {micros(start)}) / 1000000.0)"


# -- the hour or day a timestamp falls in -----------------------------------------------------


class _time_bucket(FunctionElement[str]):
    type = String()
    inherit_cache = True
    pg_pattern = ""
    sqlite_pattern = ""


class hour_bucket(_time_bucket):
    """The UTC hour a timestamp falls in, as text 'YYYY-MM-DD HH:00'."""

    inherit_cache = True
    pg_pattern = "YYYY-MM-DD HH24:00"
    sqlite_pattern = "%Y-%m-%d %H:00"


class day_bucket(_time_bucket):
    """The UTC day a timestamp falls in, as text 'YYYY-MM-DD 00:00'."""

    inherit_cache = True
    pg_pattern = "YYYY-MM-DD 00:00"
    sqlite_pattern = "%Y-%m-%d 00:00"


def time_bucket(column: Any, unit: str) -> _time_bucket:
    """The UTC `unit` ('hour' or 'day') a timestamp falls in, as 'YYYY-MM-DD HH:00' text.

    A class per unit, so the unit is part of the statement's cache key."""
    if unit == "hour":
        return hour_bucket(column)
    if unit == "day":
        return day_bucket(column)
    raise ValueError("unit must be 'hour' or 'day'")


@compiles(_time_bucket, "postgresql")
def _time_bucket_pg(element: _time_bucket, compiler: Any, **kw: Any) -> str:
    (column,) = list(element.clauses)
    return f"to_char({compiler.process(column, **kw)} AT TIME ZONE 'UTC', '{element.pg_pattern}')"


@compiles(_time_bucket, "sqlite")
def _time_bucket_sqlite(element: _time_bucket, compiler: Any, **kw: Any) -> str:
    (column,) = list(element.clauses)
    return f"strftime('{element.sqlite_pattern}', {compiler.process(column, **kw)})"


# -- histogram bins ---------------------------------------------------------------------------


class bin_index(FunctionElement[int]):
    """floor(value / width), capped at `last`: the histogram bin of a non-negative value."""

    type = Integer()
    inherit_cache = True


@compiles(bin_index, "postgresql")
def _bin_index_pg(element: bin_index, compiler: Any, **kw: Any) -> str:
    value, width, last = (compiler.process(c, **kw) for c in element.clauses)
    return f"LEAST(CAST(FLOOR({value} / {width}) AS INTEGER), {last})"


@compiles(bin_index, "sqlite")
def _bin_index_sqlite(element: bin_index, compiler: Any, **kw: Any) -> str:
    value, width, last = (compiler.process(c, **kw) for c in element.clauses)
    # CAST truncates, which is floor for the non-negative values binned here.
    return f"MIN(CAST({value} / {width} AS INTEGER), {last})"


# -- text search -------------------------------------------------------------------------------

# The search indexes of migration 0008 (SQLite's FTS5 trigram table, PostgreSQL's pg_trgm) serve
# texts of at least this many characters. How each database reads them: orchestrator.run_queries.
TRIGRAM = 3


def searchable(text: str) -> bool:
    """Whether the search indexes serve `text` (a trigram needs three characters)."""
    return len(text) >= TRIGRAM


# -- JSON as text, upserts, percentiles -------------------------------------------------------


def json_text(column: ColumnElement[Any]) -> ColumnElement[str]:
    """A JSON column as searchable text (JSONB has no LIKE; SQLite stores text already)."""
    return cast(column, Text)


def dialect_insert(conn: Connection, table: Table) -> Any:
    """The dialect's INSERT, which has ON CONFLICT (SQLite and PostgreSQL spell it alike)."""
    return (sqlite_insert if conn.dialect.name == "sqlite" else pg_insert)(table)


def upsert(
    conn: Connection,
    table: Table,
    rows: list[dict[str, Any]],
    keys: tuple[str, ...],
    only_where: ColumnElement[bool] | None = None,
) -> None:
    """Insert rows, or update every other given column where the key already exists
    (and the existing row matches `only_where`, when given)."""
    stmt = dialect_insert(conn, table)
    columns = [c for c in rows[0] if c not in keys]
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys), set_={c: stmt.excluded[c] for c in columns}, where=only_where
    )
    conn.execute(stmt, rows)


def grouped_percentiles(
    conn: Connection,
    value: ColumnElement[Any],
    where: list[Any],
    group: ColumnElement[Any] | None,
    fractions: tuple[float, ...],
) -> dict[Any, dict[float, float | None]]:
    """Continuous percentiles of `value` (NULLs ignored) per `group` (None: one group), by the database.

    PostgreSQL computes percentile_cont itself. SQLite has no percentile function: a window
    query numbers the sorted values and returns only the two rows around each percentile's
    position, which are then interpolated exactly as percentile_cont does.
    """
    key = group if group is not None else literal_column("0")
    where = [*where, value.is_not(None)]
    if conn.dialect.name == "postgresql":
        columns = (
            func.percentile_cont(f).within_group(value).label(f"p{i}") for i, f in enumerate(fractions)
        )
        stmt = select(key.label("g"), *columns).where(*where)
        if group is not None:
            stmt = stmt.group_by(group)
        return {row.g: {f: row[i + 1] for i, f in enumerate(fractions)} for row in conn.execute(stmt)}
    ranked = (
        select(
            key.label("g"),
            value.label("v"),
            func.row_number().over(partition_by=group, order_by=value).label("rn"),
            func.count().over(partition_by=group).label("n"),
        )
        .where(*where)
        .subquery()
    )
    wanted = []
    for f in fractions:
        position = (ranked.c.n - 1) * f
        low = cast(position, Integer)
        high = low + case((position > low, 1), else_=0)
        wanted += [ranked.c.rn == low + 1, ranked.c.rn == high + 1]
    rows = conn.execute(select(ranked.c.g, ranked.c.rn, ranked.c.n, ranked.c.v).where(or_(*wanted))).all()
    values: dict[Any, dict[int, float]] = {}
    sizes: dict[Any, int] = {}
    for row in rows:
        values.setdefault(row.g, {})[row.rn] = float(row.v)
        sizes[row.g] = row.n
    result: dict[Any, dict[float, float | None]] = {}
    for g, by_rank in values.items():
        result[g] = {}
        for f in fractions:
            rank = (sizes[g] - 1) * f
            below = int(rank)
            above = below + (1 if rank > below else 0)
            result[g][f] = by_rank[below + 1] + (by_rank[above + 1] - by_rank[below + 1]) * (rank - below)
    return result


# -- the database's clock ---------------------------------------------------------------------


class db_now(FunctionElement[Any]):
    """The database server's current UTC time, as a UTCDateTime value.

    Heartbeats are written, and judged stale, by this clock: workers' clocks may disagree
    with each other by minutes, the database's is one clock for all of them.
    """

    inherit_cache = True

    def __init__(self) -> None:
        from orchestrator.db.schema import UTCDateTime

        self.type = UTCDateTime()
        super().__init__()


class db_seconds_ago(FunctionElement[Any]):
    """The database's current UTC time minus `seconds` (a bound parameter)."""

    inherit_cache = True

    def __init__(self, seconds: float) -> None:
        from orchestrator.db.schema import UTCDateTime

        self.type = UTCDateTime()
        super().__init__(literal(float(seconds), Float))


# SQLite keeps UTCDateTime as 'YYYY-MM-DD HH:MM:SS.ffffff'; %f gives milliseconds ('SS.SSS').
_SQLITE_NOW = "strftime('%Y-%m-%d %H:%M:%f000', 'now'{modifier})"


@compiles(db_now, "postgresql")
def _db_now_pg(element: db_now, compiler: Any, **kw: Any) -> str:
    return "statement_timestamp()"


@compiles(db_now, "sqlite")
def _db_now_sqlite(element: db_now, compiler: Any, **kw: Any) -> str:
    return _SQLITE_NOW.format(modifier="")


@compiles(db_seconds_ago, "postgresql")
def _db_seconds_ago_pg(element: db_seconds_ago, compiler: Any, **kw: Any) -> str:
    (seconds,) = (compiler.process(c, **kw) for c in element.clauses)
    return f"(statement_timestamp() - make_interval(secs => {seconds}))"


@compiles(db_seconds_ago, "sqlite")
def _db_seconds_ago_sqlite(element: db_seconds_ago, compiler: Any, **kw: Any) -> str:
    (seconds,) = (compiler.process(c, **kw) for c in element.clauses)
    return _SQLITE_NOW.format(modifier=f", '-' || {seconds} || ' seconds'")


# -- one at a time ---------------------------------------------------------------------------------


def one_transaction_at_a_time(conn: Connection, job: str) -> None:
    """Transactions that call this with the same `job` run one after another: the next waits
    until this one commits or rolls back, then reads what it left.

    PostgreSQL: a transaction-level advisory lock keyed by the job's name. SQLite: nothing to
    do, a write transaction (BEGIN IMMEDIATE) already holds the database's one write lock."""
    if conn.dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha1(job.encode()).digest()[:8], "big", signed=True)
        conn.execute(select(func.pg_advisory_xact_lock(key)))


# -- after a bulk write ---------------------------------------------------------------------------


# LangGraph's PostgreSQL saver's tables (langgraph-checkpoint-postgres 2.x), which a load writes
# through `put` / `put_writes` (its `checkpoint_migrations` table is left alone).
POSTGRES_SAVER_TABLES = ("checkpoints", "checkpoint_blobs", "checkpoint_writes")


def analyze_after_bulk_write(engine: Engine, tables: Iterable[Table]) -> None:
    """Give the planner fresh statistics after many rows were written at once (an import, a
    migration), so the first pages are as fast as on a settled database.

    PostgreSQL: VACUUM (ANALYZE) of `tables` and the saver's, before autovacuum would: the
    visibility map it sets is what lets the page and its count read the indexes alone (a freshly
    loaded table sends every index-only scan back to the heap). VACUUM cannot run inside a
    transaction, hence an AUTOCOMMIT connection. SQLite: ANALYZE and PRAGMA optimize of the file
    (it holds only the orchestrator's tables)."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            present = set(inspect(conn).get_table_names())
            names = [t.name for t in tables] + list(POSTGRES_SAVER_TABLES)
            # Identifiers cannot be bound parameters: the names are the schema's and the saver's
            # own constants (never user text), quoted by the dialect.
            quoted = [conn.dialect.identifier_preparer.quote(n) for n in dict.fromkeys(names) if n in present]
            if quoted:
                conn.execute(text(f"VACUUM (ANALYZE) {', '.join(quoted)}"))
        else:
            conn.execute(text("ANALYZE"))
            conn.execute(text("PRAGMA optimize"))
            conn.commit()


def commit_without_waiting(conn: Connection) -> None:
    """This transaction commits without waiting for the disk (a bulk load that can be repeated):
    PostgreSQL's synchronous_commit off for it alone; SQLite's engine connections already commit
    so (synchronous=NORMAL in WAL mode, orchestrator.db.engines)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL synchronous_commit = off"))
