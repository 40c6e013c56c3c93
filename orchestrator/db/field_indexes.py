"""Expression indexes on fields of the runs' JSON columns, made and dropped by the package.

An expression index serves only the very expression it was made on, so the index is built from
the read path's own construct (`json_paths.json_at`, as `statements.field_column` writes it),
never from SQL text. PostgreSQL builds it CONCURRENTLY (writers go on while a large table is
indexed) and also newest-first with empty values last, the order of a descending sort (as 0010);
SQLite has one index, read either way. The fields indexed are listed in `field_indexes` (0019),
which the planners read to know which fields may lead a page.

Each field also gets a *number* index (`json_paths.json_number_at`: the value where it is a
number, else NULL, `statements.number_clause`), with each run's status, creation time and id: a
numeric filter's clause on it holds its type test, so the database answers the filter, with a
status, its count and its newest page's run ids from the index alone, where on the value index
it read each match's row to test the value's type (SQLite: 103 ms against 6 for 10,000 matches
at a million runs, page and count). SQLite's is on the expression. PostgreSQL answers no query
from an expression index alone (an index-only scan wants the column under the expression), so
there the number is a stored generated column of runs (`number_column_name`, `numeric`: exact,
as jsonb compares numbers), indexed (number, created_at, run_id) INCLUDE (status). Adding it
rewrites runs under an ACCESS EXCLUSIVE lock (88 s at a million runs, see README); the index is
then built CONCURRENTLY and runs vacuumed (the visibility map an index-only scan needs). A field
listed without one (indexed before it existed, or `input.tasks` of migration 0017) is still read
through its value index; `complete_field_indexes` (run by `upgrade_schema`, and by `index add`
on the field) builds what is missing.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    Column,
    Computed,
    Connection,
    Engine,
    Index,
    MetaData,
    Numeric,
    cast,
    column,
    delete,
    func,
    insert,
    select,
    table,
    update,
)
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import CreateIndex, DropIndex, ExecutableDDLElement
from sqlalchemy.sql.expression import ColumnClause

from orchestrator.db.dialect import analyze_after_bulk_write
from orchestrator.db.json_paths import json_at, json_number_at
from orchestrator.db.schema import field_indexes, runs, utcnow

logger = logging.getLogger("orchestrator.field_indexes")
# An Index made on a table's columns joins that table's metadata: these are made on a copy, so
# the package's metadata (create_all, Alembic's comparison) never holds a team's field index.
_RUNS = runs.to_metadata(MetaData())


def _digest(field: str) -> str:
    return hashlib.sha1(field.encode()).hexdigest()[:12]


def index_names(field: str, dialect: str) -> list[str]:
    """The names of the indexes made for `field` (a hash: a path may be longer than a name)."""
    names = [f"ix_runs_f_{_digest(field)}"]
    if dialect == "postgresql":
        names.append(f"ix_runs_pg_f_{_digest(field)}_desc")
    names.append(number_index_name(field))
    return names


def number_index_name(field: str) -> str:
    """The name of the number index on `field` (SQLite's on its expression, PostgreSQL's on its
    number column)."""
    return f"ix_runs_f_{_digest(field)}_num"


def number_column_name(field: str) -> str:
    """PostgreSQL: the name of the column of runs that holds `field`'s number."""
    return f"f_{_digest(field)}_num"


def number_column(field: str) -> ColumnClause[Any]:
    """PostgreSQL: `field`'s number column, as the read path names it (on the package's runs)."""
    return column(number_column_name(field), Numeric(), _selectable=runs)


def _pg_number_column(field: str, column_name: str, keys: Sequence[str]) -> Column[Any]:
    """PostgreSQL: the field's number as a stored generated column (on a copy of runs of its own),
    the value where it is a number, as `numeric` (exact, as jsonb compares numbers), else NULL."""
    on = runs.to_metadata(MetaData())
    number = cast(json_number_at(on.c[column_name], tuple(keys)), Numeric())
    made = Column(number_column_name(field), Numeric(), Computed(number, persisted=True))
    on.append_column(made)
    return made


def _number_index(field: str, column_name: str, keys: Sequence[str], dialect: str) -> Index:
    # With the status, creation time and id of each run: a filter on the field with a status,
    # its count, and its page of the newest runs are then read from the index alone. PostgreSQL
    # reads no expression index alone (it wants the column the expression is on): its index is
    # on the number column, ordered (number, created_at, run_id), the status carried.
    if dialect == "postgresql":
        number = _pg_number_column(field, column_name, keys)
        on = number.table.c
        return Index(
            number_index_name(field),
            number,
            on.created_at,
            on.run_id,
            postgresql_include=["status"],
            postgresql_concurrently=True,
        )
    value = json_number_at(_RUNS.c[column_name], tuple(keys))
    return Index(number_index_name(field), value, _RUNS.c.status, _RUNS.c.created_at, _RUNS.c.run_id)


def _indexes(field: str, column: str, keys: Sequence[str], dialect: str) -> list[Index]:
    value = json_at(_RUNS.c[column], tuple(keys))
    names = index_names(field, dialect)
    if dialect != "postgresql":
        return [Index(names[0], value, _RUNS.c.run_id), _number_index(field, column, keys, dialect)]
    return [
        Index(names[0], value, _RUNS.c.run_id, postgresql_concurrently=True),
        Index(names[1], value.desc().nulls_last(), _RUNS.c.run_id.desc(), postgresql_concurrently=True),
        _number_index(field, column, keys, dialect),
    ]


class _add_column(ExecutableDDLElement):
    """`ALTER TABLE t ADD COLUMN IF NOT EXISTS <column's own DDL>` (SQLAlchemy Core has no such
    construct; the column's specification is the dialect's, its generated expression compiled)."""

    def __init__(self, made: Column[Any]) -> None:
        self.column = made


@compiles(_add_column)
def _add_column_ddl(element: _add_column, compiler: Any, **kw: Any) -> str:
    table_name = compiler.preparer.format_table(element.column.table)
    return f"ALTER TABLE {table_name} ADD COLUMN IF NOT EXISTS {compiler.get_column_specification(element.column)}"


class _drop_column(ExecutableDDLElement):
    """`ALTER TABLE runs DROP COLUMN IF EXISTS <name>` (its indexes go with it)."""

    def __init__(self, name: str) -> None:
        self.name = name


@compiles(_drop_column)
def _drop_column_ddl(element: _drop_column, compiler: Any, **kw: Any) -> str:
    name = compiler.preparer.quote(element.name)
    return f"ALTER TABLE {compiler.preparer.format_table(runs)} DROP COLUMN IF EXISTS {name}"


def _build(conn: Connection, index: Index, poll_seconds: float = 0.5) -> None:
    """Make `index`; PostgreSQL's number index after its column (a rewrite of runs, see README)."""
    if conn.dialect.name == "postgresql" and str(index.name).endswith("_num"):
        _add_number_column(conn, next(iter(index.columns)), poll_seconds)
    index.create(conn)


# PostgreSQL: how long the ALTER that adds a number column waits for its lock at a time (ms).
LOCK_WAIT_MS = 1000
LOCK_NOT_AVAILABLE = "55P03"


def _add_number_column(conn: Connection, number: Column[Any], poll_seconds: float) -> None:
    """ALTER TABLE waits for its ACCESS EXCLUSIVE lock in the lock's queue, and every later reader
    of runs would wait behind it for as long as a transaction holds runs (a worker's): so it
    asks with a lock_timeout of LOCK_WAIT_MS, again until it has the lock; a reader then waits at
    most that long for the lock, and then the rewrite itself."""
    conn.execute(select(func.set_config("lock_timeout", str(LOCK_WAIT_MS), False)))
    said = False
    try:
        while True:
            try:
                conn.execute(_add_column(number))
                return
            except DBAPIError as exc:
                if getattr(exc.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                    raise
            if not said:
                logger.info("runs is held by a transaction; adding the field's number column when it ends")
                said = True
            time.sleep(poll_seconds)
    finally:
        with contextlib.suppress(SQLAlchemyError):
            conn.execute(select(func.set_config("lock_timeout", "0", False)))


def _settle(engine: Engine) -> None:
    """PostgreSQL, after a number column was made: VACUUM (ANALYZE) of runs, so the planner knows
    the column's values and the new (rewritten) table's visibility map lets its index be read
    alone (an index-only scan)."""
    if engine.dialect.name == "postgresql":
        analyze_after_bulk_write(engine, [runs])


def _listed(conn: Connection) -> dict[str, list[str]]:
    """Each indexed field and the names of its indexes, as `field_indexes` lists them."""
    return {
        field: names.split()
        for field, names in conn.execute(select(field_indexes.c.field, field_indexes.c.index_names))
    }


def indexed_fields(conn: Connection) -> frozenset[str]:
    """The fields with an index the package made (and `input.tasks`, made by migration 0017)."""
    return frozenset(conn.scalars(select(field_indexes.c.field)))


def number_indexed_fields(conn: Connection) -> frozenset[str]:
    """The indexed fields that also have a number index (PostgreSQL: and its number column)."""
    return frozenset(field for field, names in _listed(conn).items() if number_index_name(field) in names)


def indexed_field_names(engine: Engine) -> list[str]:
    """The fields with an expression index (filters and sorts on them read it), sorted."""
    with engine.connect() as conn:
        return sorted(indexed_fields(conn))


def _lock_key(field: str) -> int:
    """A PostgreSQL advisory lock key of its own for each field (a signed 64-bit number)."""
    return int.from_bytes(hashlib.sha1(f"field index {field}".encode()).digest()[:8], "big", signed=True)


@contextmanager
def _field_session(engine: Engine, field: str, poll_seconds: float = 0.1) -> Iterator[Connection]:
    """A connection that alone may change `field`'s indexes until it is closed.

    PostgreSQL: an AUTOCOMMIT session holding the field's advisory lock, polled outside any
    transaction (CREATE INDEX CONCURRENTLY waits for every older transaction, a session blocked
    on the lock included: as migrate.SaverSetupLock). The build runs in this very session, so
    a CLI killed mid-build leaves the lock held by its server session until that session ends:
    the next `index add` waits for it, then finds what it left. SQLite: one write transaction
    (BEGIN IMMEDIATE) holds the database's write lock; its DDL commits or rolls back whole."""
    if engine.dialect.name != "postgresql":
        with engine.connect() as conn:
            conn.execution_options(sqlite_write=True)
            with conn.begin():
                yield conn
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        key = _lock_key(field)
        if not conn.scalar(select(func.pg_try_advisory_lock(key))):
            logger.info(
                "%s: another index command (or one stopped midway) is at work on it; waiting for it", field
            )
            while not conn.scalar(select(func.pg_try_advisory_lock(key))):
                time.sleep(poll_seconds)
        try:
            yield conn
        finally:
            with contextlib.suppress(SQLAlchemyError):  # a session that is gone holds no lock
                conn.scalar(select(func.pg_advisory_unlock(key)))


def _present(conn: Connection, names: Sequence[str]) -> dict[str, bool]:
    """Which of `names` are indexes in the catalog, and whether each is valid (PostgreSQL: a
    concurrent build that was stopped leaves an INVALID index, which no read uses)."""
    if conn.dialect.name != "postgresql":
        master = table("sqlite_master", column("name"), column("type"))
        found = conn.scalars(select(master.c.name).where(master.c.type == "index", master.c.name.in_(names)))
        return dict.fromkeys(found, True)
    pg_index = table("pg_index", column("indexrelid"), column("indisvalid"))
    present: dict[str, bool] = {}
    for name in names:
        valid = conn.scalar(
            select(pg_index.c.indisvalid).where(pg_index.c.indexrelid == func.to_regclass(name))
        )
        if valid is not None:
            present[name] = bool(valid)
    return present


def add_field_index(engine: Engine, field: str, column: str, keys: Sequence[str], by: str | None) -> bool:
    """Index `field` (the value at `keys` in the runs' `column`); False where it already was
    (with every index this version makes: one missing is built, see complete_field_indexes).

    One command at a time per field (`_field_session`): a second `index add` waits, then finds
    the field listed. The field is listed only once every index is built and valid. What a
    stopped build left (a killed CLI, a connection cut) is taken up again: a valid index kept,
    an invalid one dropped and built anew."""
    with engine.connect() as conn:
        listed_already = field in indexed_fields(conn)
    if listed_already:  # outside the field's session: completing it takes SQLite's write lock itself
        return bool(complete_field_indexes(engine, [field]))
    dialect = engine.dialect.name
    made = _indexes(field, column, keys, dialect)
    names = [index.name for index in made if index.name]
    with _field_session(engine, field) as conn:
        if field in indexed_fields(conn):
            return False
        present = _present(conn, names)
        try:
            for index in made:
                if present.get(str(index.name)) is False:
                    _drop(conn, [str(index.name)])
                if not present.get(str(index.name)):
                    _build(conn, index)
        except BaseException:
            _drop_after_failure(engine, names)
            raise
        conn.execute(
            insert(field_indexes).values(
                field=field, index_names=" ".join(names), created_at=utcnow(), created_by=by
            )
        )
    return True


def complete_field_indexes(engine: Engine, fields: Sequence[str] | None = None) -> list[str]:
    """Build the number index of each indexed field (of `fields`, or all) that lacks one, and
    list it with the field's indexes; the fields completed.

    What a migration would do, done here because a team's fields are known only at run time:
    the value indexes stay (sorts read them). Two processes may both get here: SQLite makes the
    index IF NOT EXISTS and updates the listing in the same write transaction; PostgreSQL in the
    field's session (`_field_session`), its column IF NOT EXISTS, then VACUUM (ANALYZE) of runs."""
    from orchestrator.run_queries.fields import field_path  # the package's parser of a field's path

    dialect = engine.dialect.name
    with engine.connect() as conn:
        listed = _listed(conn)
    missing = [f for f in fields or sorted(listed) if f in listed and number_index_name(f) not in listed[f]]
    for field in missing:
        path = field_path(field)
        index = _number_index(field, path.column, path.keys, dialect)
        if dialect == "postgresql":
            with _field_session(engine, field) as conn:
                if _present(conn, [str(index.name)]).get(str(index.name)) is False:
                    _drop(conn, [str(index.name)])  # a stopped concurrent build's INVALID index
                if not _present(conn, [str(index.name)]):
                    if conn.scalar(select(runs.c.run_id).limit(1)) is not None:
                        # Once per field (an upgrade's `input.tasks` too): say why runs waits.
                        logger.warning(
                            "Adding %s's number column to runs: PostgreSQL rewrites the table, "
                            "which waits meanwhile (about 90 s a million runs).",
                            field,
                        )
                    _build(conn, index)
                _list_number_index(conn, field)
            continue
        with engine.connect().execution_options(sqlite_write=True) as conn, conn.begin():
            conn.execute(CreateIndex(index, if_not_exists=True))
            _list_number_index(conn, field)
    if missing:
        _settle(engine)
    return missing


def _list_number_index(conn: Connection, field: str) -> None:
    names = conn.scalar(select(field_indexes.c.index_names).where(field_indexes.c.field == field))
    if names is not None and number_index_name(field) not in names.split():
        conn.execute(
            update(field_indexes)
            .where(field_indexes.c.field == field)
            .values(index_names=f"{names} {number_index_name(field)}")
        )


def _drop(conn: Connection, names: Sequence[str]) -> None:
    # PostgreSQL drops CONCURRENTLY (in an AUTOCOMMIT session): readers and writers of runs go on.
    concurrently = conn.dialect.name == "postgresql"
    for name in names:
        conn.execute(
            DropIndex(Index(name, _table=_RUNS, postgresql_concurrently=concurrently), if_exists=True)
        )


def _drop_after_failure(engine: Engine, names: Sequence[str]) -> None:
    """A failed concurrent build leaves an invalid index: it goes, as does its twin, through a
    connection of its own (the build's may be the one that failed). If the database does not
    answer now, the next `index add` drops it (see `_present`). SQLite's rolled back whole."""
    if engine.dialect.name != "postgresql":
        return
    with contextlib.suppress(SQLAlchemyError), engine.connect() as conn:
        _drop(conn.execution_options(isolation_level="AUTOCOMMIT"), names)


def drop_field_index(engine: Engine, field: str) -> bool:
    """Drop the package's indexes on `field`; False where it had none.

    The field is unlisted first (the planners stop leading with it), then its indexes go: those
    its row names, and those `index add` makes for it, so a drop run again after a stop (or
    after a killed build) leaves none behind."""
    with _field_session(engine, field) as conn:
        listed = conn.scalar(select(field_indexes.c.index_names).where(field_indexes.c.field == field))
        names = list(dict.fromkeys([*(listed or "").split(), *index_names(field, engine.dialect.name)]))
        present = _present(conn, names)
        conn.execute(delete(field_indexes).where(field_indexes.c.field == field))
        _drop(conn, [name for name in names if name in present])
        if engine.dialect.name == "postgresql":
            conn.execute(_drop_column(number_column_name(field)))
    return listed is not None or bool(present)
