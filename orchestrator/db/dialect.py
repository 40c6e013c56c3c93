"""SQL that is spelled differently on SQLite and PostgreSQL, each as one construct or function.

A custom construct (`FunctionElement` + `@compiles`) must put everything that changes its SQL
into SQLAlchemy's statement cache key: its arguments are clauses (bound parameters or
columns), and a variant that changes the SQL text is a class of its own. A plain Python
attribute would be cached away: the first statement compiled would fix it for the process.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    Connection,
    Float,
    Integer,
    String,
    Table,
    case,
    cast,
    column,
    func,
    literal,
    literal_column,
    or_,
    select,
    table,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ClauseElement, ColumnElement, Executable, FunctionElement
from sqlalchemy.types import Text

from orchestrator.db.schema import SEARCH_TABLE
from orchestrator.db.schema import runs as runs_table

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

# The trigram tokenizer (SQLite) and pg_trgm index texts of at least this many characters.
TRIGRAM = 3


class _search_match(FunctionElement[bool]):
    type = Boolean()
    inherit_cache = True


class search_match(_search_match):
    """Runs whose id, tags or input contain `text` (any case), by the search index of migration 0008.

    Built from `like` (the portable condition: `x ILIKE '%text%'` on each text, on PostgreSQL)
    and the FTS5 phrase. PostgreSQL runs `like` as it is, which its pg_trgm indexes serve; SQLite asks
    its FTS5 trigram table `runs_search` for the rowids instead. Use `text_search`, which keeps
    `like` alone for texts too short for a trigram.
    """

    inherit_cache = True


@compiles(search_match, "postgresql")
def _search_match_pg(element: search_match, compiler: Any, **kw: Any) -> str:
    like, _phrase = list(element.clauses)
    return f"({compiler.process(like, **kw)})"


@compiles(search_match, "sqlite")
def _search_match_sqlite(element: search_match, compiler: Any, **kw: Any) -> str:
    _like, phrase = list(element.clauses)
    return f"runs.rowid IN (SELECT rowid FROM runs_search WHERE runs_search MATCH {compiler.process(phrase, **kw)})"


def fts_phrase(text: str) -> str:
    """`text` as one FTS5 phrase: every character literal."""
    return '"' + text.replace('"', '""') + '"'


def searchable(text: str) -> bool:
    """Whether the search index serves `text` (a trigram needs three characters)."""
    return len(text) >= TRIGRAM


def text_search(like: ColumnElement[bool], text: str, *, indexed: bool = True) -> ColumnElement[bool]:
    """`like` through the search index where the text is long enough for one (see search_match).

    Not `indexed`: `like` itself, tested row by row, for a page read in another index's order
    (SQLite's planner would otherwise read every match from the search index first). Only for
    ASCII texts: SQLite's LIKE folds ASCII case only, FTS5 folds every letter's case, so a
    non-ASCII text keeps the index and its answer stays the same whichever plan reads it."""
    if not searchable(text) or (not indexed and text.isascii()):
        return like
    return search_match(like, literal(fts_phrase(text), String()))


# SQLite's FTS5 table of migration 0008 (not in the metadata; see schema.SEARCH_TABLE).
sqlite_search_table = table(SEARCH_TABLE, column("rowid", Integer()))
_RUNS_ROWID = literal_column("runs.rowid", Integer())


def sqlite_search_rows(text: str, *, with_runs: bool = True) -> tuple[Any, ColumnElement[bool]]:
    """SQLite only: the search table joined to `runs` (or alone), and its MATCH for `text`.

    Reading the matches in the search index's order this way stops at a LIMIT; `rowid IN
    (SELECT ...)` builds the whole list of matches first (92 ms against 26 ms for a capped count
    of a text in a third of a million runs). The search table has one row per run (its
    triggers), so a count of the text alone needs no run."""
    source: Any = sqlite_search_table
    if with_runs:
        source = sqlite_search_table.join(runs_table, sqlite_search_table.c.rowid == _RUNS_ROWID)
    return source, literal_column(SEARCH_TABLE).op("MATCH")(literal(fts_phrase(text), String()))


def sqlite_search_rowids(text: str, limit: int) -> Any:
    """SQLite only: the rowids of the first `limit` runs that match `text`, from the search index."""
    match = literal_column(SEARCH_TABLE).op("MATCH")(literal(fts_phrase(text), String()))
    return select(sqlite_search_table.c.rowid).where(match).limit(limit)


# -- planner hints ----------------------------------------------------------------------------


class _explain_json(Executable, ClauseElement):
    """PostgreSQL's `EXPLAIN (FORMAT JSON)` of a statement (its parameters stay bound)."""

    inherit_cache = False

    def __init__(self, statement: Any) -> None:
        self.statement = statement


@compiles(_explain_json, "postgresql")
def _explain_json_pg(element: _explain_json, compiler: Any, **kw: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + str(compiler.process(element.statement, **kw))


def estimated_rows(conn: Connection, statement: Any) -> int:
    """PostgreSQL only: how many rows its planner expects `statement` to return (from the
    table's statistics; nothing is read)."""
    plan = conn.execute(_explain_json(statement)).scalar_one()
    return int(plan[0]["Plan"]["Plan Rows"])



class unindexed(FunctionElement[Any]):
    """A column SQLite's planner must not use an index for (`+column`, SQLite's own idiom);
    the column as it is on PostgreSQL, whose planner has each value's share of the rows."""

    inherit_cache = True

    def __init__(self, column: ColumnElement[Any]) -> None:
        self.type = column.type
        super().__init__(column)


@compiles(unindexed, "postgresql")
def _unindexed_pg(element: unindexed, compiler: Any, **kw: Any) -> str:
    (column,) = list(element.clauses)
    return str(compiler.process(column, **kw))


@compiles(unindexed, "sqlite")
def _unindexed_sqlite(element: unindexed, compiler: Any, **kw: Any) -> str:
    (column,) = list(element.clauses)
    return f"+{compiler.process(column, **kw)}"


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
