"""The project's tables, one SQLAlchemy engine per backend, and schema migrations.

Everything that differs between SQLite and PostgreSQL lives here: column types, connection
settings, transaction start, error wording and the few SQL expressions that are spelled
differently (`seconds_between`, `json_text`).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    case,
    cast,
    create_engine,
    event,
    func,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

from orchestrator.config import OrchestratorConfig
from orchestrator.errors import DatabaseError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Our own version table, so a team's Alembic history in the same database is left alone.
VERSION_TABLE = "orchestrator_alembic_version"

# JSON text on SQLite, JSONB on PostgreSQL: one portable type.
# none_as_null: Python None is SQL NULL (sorts last, matches IS NULL), not the JSON text "null".
JSONType = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on both backends.

    PostgreSQL stores `timestamptz`; SQLite stores naive UTC text, which sorts correctly, and
    gets its tzinfo back on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("UTCDateTime needs a timezone-aware datetime")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


metadata = MetaData()

RUN_STATUSES = (
    "queued",
    "running",
    "awaiting_input",
    "succeeded",
    "failed",
    "cancelled",
    "interrupted",
)
ACTIVE_STATUSES = ("queued", "running", "awaiting_input")

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(64), primary_key=True),  # also LangGraph's thread_id
    Column("workflow", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("tasks_total", Integer, nullable=False, default=0),
    Column("tasks_completed", Integer, nullable=False, default=0),
    Column("tasks_failed", Integer, nullable=False, default=0),
    Column("input", JSONType),
    Column("state_snapshot", JSONType),
    Column("error", Text),
    Column("tags", JSONType),
    Column("heartbeat_at", UTCDateTime),
    Column("worker", String(200)),
    # Added by migration 0002 (run control across processes).
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("resume_value", JSONType),
    Column("rerun_of", String(64)),
    # Added by migration 0003.
    Column("launched_by", String(200)),
    # Added by migration 0004: finished_at - started_at, written when a run finishes.
    Column("duration_seconds", Float),
    Index("ix_runs_status_created_at", "status", "created_at"),
    Index("ix_runs_workflow_created_at", "workflow", "created_at"),
    Index("ix_runs_tasks_total", "tasks_total"),
    Index("ix_runs_tasks_completed", "tasks_completed"),
    Index("ix_runs_tasks_failed", "tasks_failed"),
    Index("ix_runs_finished_at", "finished_at"),
    Index("ix_runs_launched_by_created_at", "launched_by", "created_at"),
    Index("ix_runs_duration_seconds", "duration_seconds"),
    # Migration 0005: sorts by created_at, and covers the overview's aggregates over a range.
    Index(
        "ix_runs_overview",
        "created_at",
        "workflow",
        "status",
        "duration_seconds",
        "tasks_total",
        "tasks_completed",
        "tasks_failed",
    ),
)

run_tasks = Table(
    "run_tasks",
    metadata,
    Column("run_id", String(64), ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    Column("task_id", String(64), primary_key=True),  # LangGraph's task id
    Column("node", String(200), nullable=False),
    Column("status", String(20), nullable=False),  # running, succeeded, failed, interrupted
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("error", Text),
    Column("step", Integer),
    Index("ix_run_tasks_node", "node"),
)


class seconds_between(FunctionElement):
    """Seconds from the first timestamp to the second, as a float, on either backend."""

    type = Float()
    inherit_cache = True


@compiles(seconds_between, "postgresql")
def _seconds_between_pg(element: seconds_between, compiler: Any, **kw: Any) -> str:
    start, end = list(element.clauses)
    return f"EXTRACT(EPOCH FROM ({compiler.process(end, **kw)} - {compiler.process(start, **kw)}))"


@compiles(seconds_between, "sqlite")
def _seconds_between_sqlite(element: seconds_between, compiler: Any, **kw: Any) -> str:
    # Whole seconds from strftime('%s') plus the stored ".ffffff" part: exact to the microsecond,
    # where julianday() arithmetic would be off by some 10 µs.
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return (
        f"((CAST(strftime('%s', {end}) AS INTEGER) - CAST(strftime('%s', {start}) AS INTEGER)) "
        f"+ (CAST(substr({end}, 20) AS REAL) - CAST(substr({start}, 20) AS REAL)))"
    )


def json_text(column: ColumnElement) -> ColumnElement[str]:
    """A JSON column as searchable text (JSONB has no LIKE; SQLite stores text already)."""
    return cast(column, Text)


def upsert(
    conn: Connection,
    table: Table,
    rows: list[dict[str, Any]],
    keys: tuple[str, ...],
    only_where: ColumnElement[bool] | None = None,
) -> None:
    """Insert rows, or update every other given column where the key already exists
    (and the existing row matches `only_where`, when given)."""
    dialect_insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
    stmt = dialect_insert(table)
    columns = [c for c in rows[0] if c not in keys]
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys), set_={c: stmt.excluded[c] for c in columns}, where=only_where
    )
    conn.execute(stmt, rows)


def _json_dumps(value: Any) -> str:
    # Keep unicode as is in SQLite's JSON text, so a text search for "é" finds it.
    return json.dumps(value, ensure_ascii=False, default=str)


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event below start transactions, not pysqlite.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL: readers (the dashboard) never block the writer (the executor), nor it them.
    cursor.execute("PRAGMA journal_mode=WAL")
    # Wait for a lock instead of failing at once with "database is locked".
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Safe with WAL (a power cut may lose the last commit, never corrupt) and much faster.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _begin_sqlite(conn: Any) -> None:
    # A write transaction takes the write lock up front (IMMEDIATE): a deferred one that reads
    # first and writes later fails with SQLITE_BUSY at once, without waiting for busy_timeout.
    mode = "IMMEDIATE" if conn.get_execution_options().get("sqlite_write") else "DEFERRED"
    conn.exec_driver_sql(f"BEGIN {mode}")


def make_engine(config: OrchestratorConfig) -> Engine:
    """One engine for the configured backend (call once per process and keep it)."""
    url = config.database_url()
    if url.get_backend_name() == "sqlite":
        try:
            Path(str(url.database)).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise describe_connection_error(exc, url) from None
        engine = create_engine(url, json_serializer=_json_dumps)
        event.listen(engine, "connect", _set_sqlite_pragmas)
        event.listen(engine, "begin", _begin_sqlite)
        return engine
    return create_engine(
        url,
        json_serializer=_json_dumps,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=10,
        connect_args={"connect_timeout": 5, "application_name": "orchestrator"},
    )


def backend_label(engine: Engine) -> str:
    """'SQLite' or 'PostgreSQL', as the start-up log lines spell them."""
    return "SQLite" if engine.dialect.name == "sqlite" else "PostgreSQL"


def describe_connection_error(exc: BaseException, url: URL) -> DatabaseError:
    """One sentence, without the password, for a database that cannot be used."""
    message = str(getattr(exc, "orig", None) or exc)
    if url.get_backend_name() == "sqlite":
        return DatabaseError(
            f"Cannot open the SQLite database {url.database!r} ({message.splitlines()[0]}); "
            "check that its folder exists and is writable, or set SQLITE_PATH."
        )
    host, port, name = url.host or "localhost", url.port or 5432, url.database or ""
    where = f"PostgreSQL at {host}:{port}"
    if "does not exist" in message and "database" in message:
        return DatabaseError(
            f'database "{name}" does not exist on {where}; create it with '
            f"`CREATE DATABASE {name};` (e.g. psql -h {host} -p {port} -U {url.username or 'postgres'} "
            f'-c "CREATE DATABASE {name};") and start again.'
        )
    if "password authentication failed" in message or "no password supplied" in message:
        return DatabaseError(
            f"{where} refused the login for user {url.username!r}; check the user name and "
            "password in POSTGRES_URI."
        )
    if "role" in message and "does not exist" in message:
        return DatabaseError(
            f"{where} has no user {url.username!r}; create it or fix the user in POSTGRES_URI."
        )
    return DatabaseError(
        f"{where} does not answer; start the server or fix the host and port in POSTGRES_URI."
    )


def check_database(engine: Engine) -> None:
    """Raise DatabaseError (one sentence, no password) unless the database answers."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        raise describe_connection_error(exc, engine.url) from None


def _alembic_config(engine_or_conn: Any) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = engine_or_conn
    return cfg


# pg_advisory_lock keys: one for our migrations, one for LangGraph's saver set-up.
MIGRATION_LOCK_KEY = 0x6F726368
SAVER_SETUP_LOCK_KEY = 0x6F726369


@contextmanager
def saver_setup_lock(engine: Engine, poll_seconds: float = 0.1) -> Iterator[None]:
    """Hold a PostgreSQL advisory lock while LangGraph's saver creates its tables.

    The savers' setup() has no lock of its own: two processes starting together on a fresh
    database both insert the same migration row and one fails. The lock is polled with
    pg_try_advisory_lock outside any transaction, never waited on inside one: setup() runs
    CREATE INDEX CONCURRENTLY, which waits for every open transaction, including a session
    blocked on this lock, and the two would wait for each other. SQLite needs no lock.
    """
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        while not conn.execute(select(func.pg_try_advisory_lock(SAVER_SETUP_LOCK_KEY))).scalar():
            time.sleep(poll_seconds)
        try:
            yield
        finally:
            conn.execute(select(func.pg_advisory_unlock(SAVER_SETUP_LOCK_KEY)))


def upgrade_schema(engine: Engine, revision: str = "head") -> None:
    """Apply the package's migrations up to `revision` (start-up runs this to 'head')."""
    check_database(engine)
    with engine.connect() as conn:
        conn.execution_options(sqlite_write=True)
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # A batch migration rebuilds a table (DROP + rename); with foreign keys on, dropping
            # `runs` would cascade into `run_tasks`. The PRAGMA only works outside a transaction.
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        with conn.begin():
            if conn.dialect.name == "postgresql":
                # Two processes starting at once (dashboard and a worker) must not both migrate.
                conn.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY)))
            command.upgrade(_alembic_config(conn), revision)
        if sqlite:
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=ON")


def schema_version(engine: Engine) -> str | None:
    """The applied migration, or None for a database the orchestrator has not set up."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


def head_version() -> str:
    """The newest migration this package ships."""
    script = ScriptDirectory.from_config(_alembic_config(None))
    return str(script.get_current_head())


class time_bucket(FunctionElement):
    """The UTC hour or day a timestamp falls in, as text 'YYYY-MM-DD HH:00', on either backend."""

    type = String()
    inherit_cache = True

    def __init__(self, column: Any, unit: str):
        if unit not in ("hour", "day"):
            raise ValueError("unit must be 'hour' or 'day'")
        self.unit = unit
        super().__init__(column)


@compiles(time_bucket, "postgresql")
def _time_bucket_pg(element: time_bucket, compiler: Any, **kw: Any) -> str:
    pattern = "YYYY-MM-DD HH24:00" if element.unit == "hour" else "YYYY-MM-DD 00:00"
    (column,) = list(element.clauses)
    return f"to_char({compiler.process(column, **kw)} AT TIME ZONE 'UTC', '{pattern}')"


@compiles(time_bucket, "sqlite")
def _time_bucket_sqlite(element: time_bucket, compiler: Any, **kw: Any) -> str:
    pattern = "%Y-%m-%d %H:00" if element.unit == "hour" else "%Y-%m-%d 00:00"
    (column,) = list(element.clauses)
    return f"strftime('{pattern}', {compiler.process(column, **kw)})"


def grouped_percentiles(
    conn: Connection,
    value: ColumnElement,
    where: list[Any],
    group: ColumnElement | None,
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
            position = (sizes[g] - 1) * f
            low = int(position)
            high = low + (1 if position > low else 0)
            result[g][f] = by_rank[low + 1] + (by_rank[high + 1] - by_rank[low + 1]) * (position - low)
    return result


class bin_index(FunctionElement):
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
