"""Expression indexes on fields of the runs' JSON columns, made and dropped by the package.

An expression index serves only the very expression it was made on, so the index is built from
the read path's own construct (`json_paths.json_at`, as `statements.field_column` writes it),
never from SQL text. PostgreSQL builds it CONCURRENTLY (writers go on while a large table is
indexed) and also newest-first with empty values last, the order of a descending sort (as 0010);
SQLite has one index, read either way. The fields indexed are listed in `field_indexes` (0019),
which the planners read to know which fields may lead a page.

SQLite also gets a *number* index on the field (`json_paths.json_number_at`: the value where it
is a number, else NULL, `statements.number_clause`), with each run's status, creation time and
id: a numeric filter's clause on it holds its type test, so SQLite answers the filter, with a
status, its count and its newest page's run ids from the index alone, where on the value index
it read each match's row to test the value's type (103 ms against 6 for 10,000 matches at a
million runs, page and count). A field listed without one (indexed before it existed, or
`input.tasks` of migration 0017) is still read through its value index; `complete_field_indexes`
(run by `upgrade_schema`, and by `index add` on the field) builds what is missing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from sqlalchemy import Connection, Engine, Index, MetaData, delete, insert, select, update
from sqlalchemy.schema import CreateIndex, DropIndex

from orchestrator.db.json_paths import json_at, json_number_at
from orchestrator.db.schema import field_indexes, runs, utcnow

# An Index made on a table's columns joins that table's metadata: these are made on a copy, so
# the package's metadata (create_all, Alembic's comparison) never holds a team's field index.
_RUNS = runs.to_metadata(MetaData())


def index_names(field: str, dialect: str) -> list[str]:
    """The names of the indexes made for `field` (a hash: a path may be longer than a name)."""
    digest = hashlib.sha1(field.encode()).hexdigest()[:12]
    names = [f"ix_runs_f_{digest}"]
    if dialect == "postgresql":
        names.append(f"ix_runs_pg_f_{digest}_desc")
    else:
        names.append(number_index_name(field))
    return names


def number_index_name(field: str) -> str:
    """The name of SQLite's number index on `field`."""
    return f"ix_runs_f_{hashlib.sha1(field.encode()).hexdigest()[:12]}_num"


def _number_index(field: str, column: str, keys: Sequence[str]) -> Index:
    # With the status, creation time and id of each run: a filter on the field with a status,
    # its count, and its page of the newest runs are then read from the index alone.
    number = json_number_at(_RUNS.c[column], tuple(keys))
    return Index(number_index_name(field), number, _RUNS.c.status, _RUNS.c.created_at, _RUNS.c.run_id)


def _indexes(field: str, column: str, keys: Sequence[str], dialect: str) -> list[Index]:
    value = json_at(_RUNS.c[column], tuple(keys))
    names = index_names(field, dialect)
    if dialect != "postgresql":
        return [Index(names[0], value, _RUNS.c.run_id), _number_index(field, column, keys)]
    return [
        Index(names[0], value, _RUNS.c.run_id, postgresql_concurrently=True),
        Index(names[1], value.desc().nulls_last(), _RUNS.c.run_id.desc(), postgresql_concurrently=True),
    ]


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
    """The indexed fields that also have a number index (SQLite; none on PostgreSQL)."""
    return frozenset(field for field, names in _listed(conn).items() if number_index_name(field) in names)


def indexed_field_names(engine: Engine) -> list[str]:
    """The fields with an expression index (filters and sorts on them read it), sorted."""
    with engine.connect() as conn:
        return sorted(indexed_fields(conn))


def add_field_index(engine: Engine, field: str, column: str, keys: Sequence[str], by: str | None) -> bool:
    """Index `field` (the value at `keys` in the runs' `column`); False where it already was
    (with every index this version makes: one missing is built, see complete_field_indexes)."""
    with engine.connect() as conn:
        if field in indexed_fields(conn):
            return bool(complete_field_indexes(engine, [field]))
    dialect = engine.dialect.name
    made = _indexes(field, column, keys, dialect)
    # PostgreSQL's CONCURRENTLY runs outside a transaction; SQLite's DDL commits with its block.
    options = {"isolation_level": "AUTOCOMMIT"} if dialect == "postgresql" else {}
    with engine.connect().execution_options(**options) as conn:
        try:
            for index in made:
                index.create(conn)
            if dialect != "postgresql":
                conn.commit()
        except BaseException:
            # A failed concurrent build leaves an invalid index behind: it goes, as does its twin.
            _drop(conn, [index.name for index in made if index.name])
            raise
    with engine.begin() as conn:
        conn.execute(
            insert(field_indexes).values(
                field=field,
                index_names=" ".join(i.name for i in made if i.name),
                created_at=utcnow(),
                created_by=by,
            )
        )
    return True


def complete_field_indexes(engine: Engine, fields: Sequence[str] | None = None) -> list[str]:
    """Build SQLite's number index for each indexed field (of `fields`, or all) that lacks one,
    and list it with the field's indexes; the fields completed. Nothing to do on PostgreSQL.

    What a migration would do, done here because a team's fields are known only at run time:
    the value index stays (sorts read it). Two processes may both get here: the index is made
    IF NOT EXISTS and the listing updated in the same write transaction."""
    if engine.dialect.name == "postgresql":
        return []
    from orchestrator.run_queries.fields import field_path  # the package's parser of a field's path

    with engine.connect() as conn:
        listed = _listed(conn)
    missing = [f for f in fields or sorted(listed) if f in listed and number_index_name(f) not in listed[f]]
    for field in missing:
        path = field_path(field)
        with engine.connect().execution_options(sqlite_write=True) as conn, conn.begin():
            conn.execute(CreateIndex(_number_index(field, path.column, path.keys), if_not_exists=True))
            names = conn.scalar(select(field_indexes.c.index_names).where(field_indexes.c.field == field))
            if names is not None and number_index_name(field) not in names.split():
                conn.execute(
                    update(field_indexes)
                    .where(field_indexes.c.field == field)
                    .values(index_names=f"{names} {number_index_name(field)}")
                )
    return missing


def _drop(conn: Connection, names: list[str]) -> None:
    for name in names:
        conn.execute(DropIndex(Index(name, _table=_RUNS), if_exists=True))
    if conn.dialect.name != "postgresql":
        conn.commit()


def drop_field_index(engine: Engine, field: str) -> bool:
    """Drop the package's indexes on `field`; False where it had none."""
    with engine.connect() as conn:
        names = conn.scalar(select(field_indexes.c.index_names).where(field_indexes.c.field == field))
    if names is None:
        return False
    options = {"isolation_level": "AUTOCOMMIT"} if engine.dialect.name == "postgresql" else {}
    with engine.connect().execution_options(**options) as conn:
        _drop(conn, names.split())
    with engine.begin() as conn:
        conn.execute(delete(field_indexes).where(field_indexes.c.field == field))
    return True
