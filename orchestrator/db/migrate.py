"""Schema migrations (Alembic, shipped in `orchestrator/migrations`) and the locks around set-up."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, String, column, func, inspect, select, table
from sqlalchemy.exc import DBAPIError

from orchestrator.db.engines import check_database, describe_connection_error, sqlite_file
from orchestrator.db.field_indexes import complete_field_indexes
from orchestrator.db.schema import EXPRESSION_INDEXES, POSTGRES_SORT_INDEXES, SEARCH_INDEXES, SEARCH_TABLE
from orchestrator.errors import DatabaseError

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

# Alembic is imported only where a migration is applied or described: a read of a current
# database (the CLI's `runs`, `show`) checks its version with one SELECT (see schema_version).

MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"
# Our own version table, so a team's Alembic history in the same database is left alone.
VERSION_TABLE = "orchestrator_alembic_version"

# pg_advisory_lock keys: one for our migrations, one for LangGraph's saver set-up.
FIELD_INDEX_PREFIXES = ("ix_runs_f_", "ix_runs_pg_f_")
FIELD_COLUMN = re.compile(r"f_[0-9a-f]{12}_num")
MIGRATION_LOCK_KEY = 0x6F726368
SAVER_SETUP_LOCK_KEY = 0x6F726369


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic's comparison (autogenerate, the schema test) skips what the metadata cannot
    declare: the search objects of 0008, PostgreSQL's sort indexes of 0010 and the expression
    indexes of 0012 (see schema), and the fields' indexes made at run time."""
    if type_ == "table" and name is not None and name.startswith(SEARCH_TABLE):
        return False
    if type_ == "index" and name is not None and name.startswith(FIELD_INDEX_PREFIXES):
        return False  # a field's index made at run time (db.field_indexes)
    if type_ == "column" and name is not None and FIELD_COLUMN.fullmatch(name):
        return False  # PostgreSQL: a field's number column made at run time (db.field_indexes)
    return not (type_ == "index" and name in (*SEARCH_INDEXES, *POSTGRES_SORT_INDEXES, *EXPRESSION_INDEXES))


def alembic_config(engine_or_conn: Any) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = engine_or_conn
    return cfg


class SaverSetupLock:
    """A PostgreSQL advisory lock held while LangGraph's saver creates its tables.

    The savers' setup() has no lock of its own: two processes starting together on a fresh
    database both insert the same migration row and one fails. The lock is polled with
    pg_try_advisory_lock outside any transaction, never waited on inside one: setup() runs
    CREATE INDEX CONCURRENTLY, which waits for every open transaction, including a session
    blocked on this lock, and the two would wait for each other. SQLite needs no lock.

    Use it as a context manager, or (from async code, in a thread) `acquire()` / `release()`.
    """

    def __init__(self, engine: Engine, poll_seconds: float = 0.1):
        self.engine, self.poll_seconds = engine, poll_seconds
        self._conn: Connection | None = None

    def acquire(self) -> None:
        if self.engine.dialect.name != "postgresql":
            return
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            while not conn.execute(select(func.pg_try_advisory_lock(SAVER_SETUP_LOCK_KEY))).scalar():
                time.sleep(self.poll_seconds)
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def release(self) -> None:
        if self._conn is None:
            return
        conn, self._conn = self._conn, None
        try:
            conn.execute(select(func.pg_advisory_unlock(SAVER_SETUP_LOCK_KEY)))
        finally:
            conn.close()

    def __enter__(self) -> SaverSetupLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def saver_setup_lock(engine: Engine, poll_seconds: float = 0.1) -> SaverSetupLock:
    """The saver set-up lock for `engine` (see SaverSetupLock)."""
    return SaverSetupLock(engine, poll_seconds)


def upgrade_schema(engine: Engine, revision: str = "head") -> None:
    """Apply the package's migrations up to `revision` (start-up runs this to 'head').

    A database that refuses (a read-only file, a role that may not create tables) is a
    DatabaseError in one sentence; the migration's transaction is rolled back.
    """
    check_database(engine)
    try:
        if revision != "head" or schema_version(engine) != head_version():
            _upgrade(engine, revision)  # else nothing to apply: Alembic is not even imported
        if revision == "head":
            # The fields' indexes a newer version makes (SQLite's number indexes): built at run
            # time, as `index add` builds them, for fields known only to this database.
            complete_field_indexes(engine)
    except DBAPIError as exc:
        raise describe_connection_error(exc, engine.url) from None


def _upgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    with engine.connect() as conn:
        conn.execution_options(sqlite_write=True)
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # A batch migration rebuilds a table (DROP + rename); with foreign keys on, dropping
            # `runs` would cascade into `run_tasks`. The PRAGMA only works outside a transaction.
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        with conn.begin():
            if conn.dialect.name == "postgresql":
                # Two processes starting at once (dashboard and a worker) must not both migrate.
                conn.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY)))
            command.upgrade(alembic_config(conn), revision)
        if sqlite:
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


_VERSION_ROWS = table(VERSION_TABLE, column("version_num", String))


def schema_version(engine: Engine) -> str | None:
    """The applied migration, or None for a database the orchestrator has not set up.

    Read as Alembic reads it (the one row of its version table), without importing Alembic."""
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table(VERSION_TABLE):
                return None
            versions = conn.execute(select(_VERSION_ROWS.c.version_num)).scalars().all()
    except DBAPIError as exc:
        raise describe_connection_error(exc, engine.url) from None
    if len(versions) > 1:  # a branched history; this package's is one line
        raise DatabaseError(
            f"{database_label(engine)} has more than one orchestrator schema version: {versions}."
        )
    return versions[0] if versions else None


def database_label(engine: Engine) -> str:
    """The database in words, without a password: for sentences about its schema."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return f"The SQLite database {sqlite_file(url)!r}"
    return f'Database "{url.database}" on PostgreSQL at {url.host or "localhost"}:{url.port or 5432}'


def check_schema(engine: Engine) -> None:
    """Raise DatabaseError, in one sentence, unless `runs` is at this package's version.

    What a read-only orchestrator checks instead of migrating: it may not create or upgrade tables.
    """
    check_database(engine)
    version, head = schema_version(engine), head_version()
    if version == head:
        return
    label = database_label(engine)
    if version is None:
        raise DatabaseError(
            f"{label} has no orchestrator tables yet; create them with `python -m orchestrator init` "
            "from a configuration that may write (not read-only), then open it read-only."
        )
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(None))
    if version in {rev.revision for rev in script.walk_revisions()}:
        raise DatabaseError(
            f"{label} has orchestrator schema {version}, older than this package's {head}; upgrade it "
            "with `python -m orchestrator init` from a configuration that may write (not read-only)."
        )
    raise DatabaseError(
        f"{label} has orchestrator schema {version}, which this package does not know (its newest is "
        f"{head}); upgrade the orchestrator package."
    )


_REVISION_LINE = re.compile(r"^(down_revision|revision)\s*(?::[^=]*)?=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)


def head_version() -> str:
    """The newest migration this package ships: the revision no other names as its down_revision.

    Read from the migration files' text (Alembic would import every one of them); a history that
    is not one line with one head is left to Alembic to describe."""
    revisions: set[str] = set()
    downs: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        for name, value in _REVISION_LINE.findall(path.read_text(encoding="utf-8")):
            (revisions if name == "revision" else downs).add(value)
    heads = revisions - downs
    if len(heads) == 1:
        return heads.pop()
    from alembic.script import ScriptDirectory

    return str(ScriptDirectory.from_config(alembic_config(None)).get_current_head())
