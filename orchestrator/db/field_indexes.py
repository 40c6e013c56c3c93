"""Expression indexes on fields of the runs' JSON columns, made and dropped by the package.

An expression index serves only the very expression it was made on, so the index is built from
the read path's own construct (`json_paths.json_at`, as `statements.field_column` writes it),
never from SQL text. PostgreSQL builds it CONCURRENTLY (writers go on while a large table is
indexed) and also newest-first with empty values last, the order of a descending sort (as 0010);
SQLite has one index, read either way. The fields indexed are listed in `field_indexes` (0019),
which the planners read to know which fields may lead a page.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from sqlalchemy import Connection, Engine, Index, MetaData, delete, insert, select
from sqlalchemy.schema import DropIndex

from orchestrator.db.json_paths import json_at
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
    return names


def _indexes(field: str, column: str, keys: Sequence[str], dialect: str) -> list[Index]:
    value = json_at(_RUNS.c[column], tuple(keys))
    names = index_names(field, dialect)
    if dialect != "postgresql":
        return [Index(names[0], value, _RUNS.c.run_id)]
    return [
        Index(names[0], value, _RUNS.c.run_id, postgresql_concurrently=True),
        Index(names[1], value.desc().nulls_last(), _RUNS.c.run_id.desc(), postgresql_concurrently=True),
    ]


def indexed_fields(conn: Connection) -> frozenset[str]:
    """The fields with an index the package made (and `input.tasks`, made by migration 0017)."""
    return frozenset(conn.scalars(select(field_indexes.c.field)))


def indexed_field_names(engine: Engine) -> list[str]:
    """The fields with an expression index (filters and sorts on them read it), sorted."""
    with engine.connect() as conn:
        return sorted(indexed_fields(conn))


def add_field_index(engine: Engine, field: str, column: str, keys: Sequence[str], by: str | None) -> bool:
    """Index `field` (the value at `keys` in the runs' `column`); False where it already was."""
    with engine.connect() as conn:
        if field in indexed_fields(conn):
            return False
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
