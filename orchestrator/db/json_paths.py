"""A value at a path of keys inside a JSON column, spelled per database.

SQLite: `json_extract(column, '$.a.b')` and `json_type(...)`; PostgreSQL:
`NULLIF((column -> 'a' -> 'b'), 'null'::jsonb)` (jsonb, which compares numbers as numbers; a JSON
null is SQL NULL, as json_extract has it) and `jsonb_typeof(...)`. The path is written into
the SQL as a literal, because an expression index is used only for the very expression it was
made on (a bound parameter is not that expression): `CREATE INDEX ... ON runs
(json_extract(input, '$.tasks'))` on SQLite, `((NULLIF(input -> 'tasks', 'null'::jsonb)))` on
PostgreSQL. The keys come
only from `orchestrator.run_queries.fields.field_path`, which accepts identifier-like keys
(letters, digits, `_`) and nothing else, and they are rendered by SQLAlchemy's literal
rendering (`literal_execute`), quoted by the dialect. Values compared with them are bound.

Each kind of test is a class of its own, so that it is part of SQLAlchemy's statement cache key
(see dialect.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement
from sqlalchemy.types import Boolean, NullType


def _keys(keys: tuple[str, ...]) -> list[Any]:
    """The SQLite path ('$.a.b') and each key, as literals rendered at execution."""
    return [literal("$." + ".".join(keys), String(), literal_execute=True)] + [
        literal(key, String(), literal_execute=True) for key in keys
    ]


class _at(FunctionElement[Any]):
    inherit_cache = True

    def __init__(self, column: ColumnElement[Any], keys: tuple[str, ...]) -> None:
        super().__init__(column, *_keys(keys))


def _pg_chain(compiler: Any, element: _at, last: str = "->", **kw: Any) -> str:
    column, _path, *key_clauses = list(element.clauses)
    keys = [compiler.process(key, **kw) for key in key_clauses]
    chain = compiler.process(column, **kw)
    for i, key in enumerate(keys):
        chain = f"{chain} {last if i == len(keys) - 1 else '->'} {key}"
    return f"({chain})"


def _sqlite_call(function: str, compiler: Any, element: _at, **kw: Any) -> str:
    column, path = list(element.clauses)[:2]
    return f"{function}({compiler.process(column, **kw)}, {compiler.process(path, **kw)})"


class json_at(_at):
    """The value at `keys` in a JSON column: numbers compare as numbers, texts as texts (no type
    of its own in Python: it is compared and sorted on, never read)."""

    type = NullType()
    inherit_cache = True


@compiles(json_at, "sqlite")
def _json_at_sqlite(element: json_at, compiler: Any, **kw: Any) -> str:
    return _sqlite_call("json_extract", compiler, element, **kw)


@compiles(json_at, "postgresql")
def _json_at_pg(element: json_at, compiler: Any, **kw: Any) -> str:
    # A JSON null is SQL NULL, as SQLite's json_extract has it: it sorts last, as a missing key.
    return f"NULLIF({_pg_chain(compiler, element, **kw)}, 'null'::jsonb)"


class json_number_at(_at):
    """The value at `keys` where it is a number, else NULL: a numeric test on it needs no type
    test of its own, so an expression index on it answers the test (and its count) alone.
    SQLite: `CASE WHEN json_type(c, p) IN ('integer', 'real') THEN json_extract(c, p) END`."""

    type = NullType()
    inherit_cache = True


@compiles(json_number_at, "sqlite")
def _json_number_at_sqlite(element: json_number_at, compiler: Any, **kw: Any) -> str:
    kind = _sqlite_call("json_type", compiler, element, **kw)
    return f"CASE WHEN {kind} IN ('integer', 'real') THEN {_sqlite_call('json_extract', compiler, element, **kw)} END"


@compiles(json_number_at, "postgresql")
def _json_number_at_pg(element: json_number_at, compiler: Any, **kw: Any) -> str:
    chain = _pg_chain(compiler, element, **kw)
    return f"CASE WHEN jsonb_typeof{chain} = 'number' THEN {chain} END"


class json_text_at(_at):
    """The text at `keys` (for `contains`; only where json_is_text holds)."""

    type = String()
    inherit_cache = True


@compiles(json_text_at, "sqlite")
def _json_text_at_sqlite(element: json_text_at, compiler: Any, **kw: Any) -> str:
    return _sqlite_call("json_extract", compiler, element, **kw)


@compiles(json_text_at, "postgresql")
def _json_text_at_pg(element: json_text_at, compiler: Any, **kw: Any) -> str:
    return _pg_chain(compiler, element, last="->>", **kw)


class json_type_at(_at):
    """The JSON type's name of the value at `keys` (SQLite's and PostgreSQL's own names), NULL
    where the key is missing (a JSON null is there: its type is 'null')."""

    type = String()
    inherit_cache = True


@compiles(json_type_at, "sqlite")
def _json_type_at_sqlite(element: json_type_at, compiler: Any, **kw: Any) -> str:
    return _sqlite_call("json_type", compiler, element, **kw)


@compiles(json_type_at, "postgresql")
def _json_type_at_pg(element: json_type_at, compiler: Any, **kw: Any) -> str:
    return f"jsonb_typeof{_pg_chain(compiler, element, **kw)}"


class _json_is(_at):
    type = Boolean()
    inherit_cache = True
    sqlite_types: tuple[str, ...] = ()
    pg_type = ""


class json_is_number(_json_is):
    """Whether the value at `keys` is a number."""

    inherit_cache = True
    sqlite_types = ("integer", "real")
    pg_type = "number"


class json_is_text(_json_is):
    """Whether the value at `keys` is a text."""

    inherit_cache = True
    sqlite_types = ("text",)
    pg_type = "string"


class json_is_boolean(_json_is):
    """Whether the value at `keys` is true or false."""

    inherit_cache = True
    sqlite_types = ("true", "false")
    pg_type = "boolean"


JSON_KINDS: dict[str, type[_json_is]] = {
    "number": json_is_number,
    "text": json_is_text,
    "boolean": json_is_boolean,
}


@compiles(_json_is, "sqlite")
def _json_is_sqlite(element: _json_is, compiler: Any, **kw: Any) -> str:
    names = ", ".join(f"'{name}'" for name in element.sqlite_types)
    return f"({_sqlite_call('json_type', compiler, element, **kw)} IN ({names}))"


@compiles(_json_is, "postgresql")
def _json_is_pg(element: _json_is, compiler: Any, **kw: Any) -> str:
    return f"(jsonb_typeof{_pg_chain(compiler, element, **kw)} = '{element.pg_type}')"


class json_value(FunctionElement[Any]):
    """A bound value given as JSON text, as json_at returns such a value: SQLite's SQL value
    (`json_extract(:v, '$')`: 100, 'abc', 1 for true), PostgreSQL's jsonb (`CAST(:v AS JSONB)`)."""

    type = NullType()
    inherit_cache = True

    def __init__(self, json_text: str) -> None:
        super().__init__(literal(json_text, String()))


@compiles(json_value, "sqlite")
def _json_value_sqlite(element: json_value, compiler: Any, **kw: Any) -> str:
    (value,) = (compiler.process(c, **kw) for c in element.clauses)
    return f"json_extract({value}, '$')"


@compiles(json_value, "postgresql")
def _json_value_pg(element: json_value, compiler: Any, **kw: Any) -> str:
    (value,) = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST({value} AS JSONB)"
