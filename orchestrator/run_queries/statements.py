"""The runs page's SQL, as either database reads it: what each filter part means, the page, the count.

Portable SQLAlchemy Core with bound parameters only. A planner (`sqlite_planner`,
`postgres_planner`) decides how the database finds the rows (which index leads, a budget for
the count) and builds its statements from these pieces; what the rows are is decided here.

What the list shows and what it sorts by are data (LIST_COLUMNS, SORT_COLUMNS): a column added
to `runs` is listed or sortable by adding it there.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Numeric,
    Select,
    String,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
)

from orchestrator.db import db_now, json_text, runs, seconds_between
from orchestrator.db.json_paths import (
    JSON_KINDS,
    json_at,
    json_number_at,
    json_text_at,
    json_type_at,
    json_value,
)
from orchestrator.errors import InputError
from orchestrator.run_queries.fields import ROOTS, Where, field_path
from orchestrator.run_queries.filter import Contains, Equals, Field, FilterPart, OneOf, RunFilter
from orchestrator.status import RunStatus
from orchestrator.validation import shown

# A run's wall and work time as every view shows them: the stored figure once it is final; while
# it goes, the figure so far, by the database's clock as the stored ones are (a run waiting for a
# person or in the queue again adds wall time, not work time).
live_wall_seconds = case(
    (
        runs.c.finished_at.is_(None) & runs.c.started_at.is_not(None),
        seconds_between(runs.c.started_at, db_now()),
    ),
    else_=runs.c.wall_seconds,
).label("wall_seconds")
live_work_seconds = case(
    (runs.c.started_at.is_(None), null()),
    (
        runs.c.status == RunStatus.RUNNING,
        func.coalesce(runs.c.work_seconds, 0.0)
        + seconds_between(func.coalesce(runs.c.attempt_started_at, runs.c.started_at), db_now()),
    ),
    else_=runs.c.work_seconds,
).label("work_seconds")

# A run's tokens, the one figure every view shows and filters or sorts on: its model calls' input
# tokens (cached ones included) plus their output tokens (both kept on the run's row, 0018).
TOKENS = runs.c.input_tokens + runs.c.output_tokens
# Filter parts on figures that are not a column of their own, by their name.
DERIVED: dict[str, ColumnElement[Any]] = {"tokens": TOKENS}

# What the runs list shows (state_snapshot and input stay out: they can be large).
LIST_COLUMNS = (
    runs.c.run_id,
    runs.c.workflow,
    runs.c.status,
    runs.c.created_at,
    runs.c.started_at,
    runs.c.finished_at,
    live_wall_seconds,
    live_work_seconds,
    runs.c.tasks_planned,
    runs.c.tasks_total,
    runs.c.tasks_completed,
    runs.c.tasks_failed,
    runs.c.tags,
    runs.c.worker,
    runs.c.heartbeat_at,
    runs.c.launched_by,
    runs.c.model_calls,
    runs.c.input_tokens,
    runs.c.output_tokens,
    TOKENS.label("tokens"),
    runs.c.cost_usd,
    runs.c.warnings,
    runs.c.errors,
)

# What a page can be sorted by, and the SQL it sorts on.
SORT_COLUMNS: dict[str, Any] = {
    "created_at": runs.c.created_at,
    "started_at": runs.c.started_at,
    "finished_at": runs.c.finished_at,
    "wall_seconds": runs.c.wall_seconds,
    "work_seconds": runs.c.work_seconds,
    "run_id": runs.c.run_id,
    "workflow": runs.c.workflow,
    "status": runs.c.status,
    "tasks_total": runs.c.tasks_total,
    "tasks_completed": runs.c.tasks_completed,
    "tasks_failed": runs.c.tasks_failed,
    "tags": json_text(runs.c.tags),
    "worker": runs.c.worker,
    "cost_usd": runs.c.cost_usd,
    "tokens": TOKENS,
    "input_tokens": runs.c.input_tokens,
    "output_tokens": runs.c.output_tokens,
    "model_calls": runs.c.model_calls,
    "warnings": runs.c.warnings,
    "errors": runs.c.errors,
}
NULLABLE_SORTS = {"started_at", "finished_at", "wall_seconds", "work_seconds", "tags", "worker"}
# Sorts by names of earlier versions (a bookmarked link): the run's one duration was its wall time.
# Short names the CLI takes too (`--sort -cost`).
SORT_ALIASES = {"duration_seconds": "wall_seconds", "cost": "cost_usd", "calls": "model_calls"}
# From this offset on, a page finds its run ids first and then reads their rows (page_select).
DEFER_OFFSET = 1_000
# The runs page counts matches exactly up to this many ("10,000+" beyond, exact on demand).
COUNT_CAP = 10_000


def sort_field(sort: Any) -> Field:
    """The field a page is sorted by (a column, or a dotted path such as input.tasks), or
    InputError naming the choices."""
    sort = SORT_ALIASES.get(sort, sort) if isinstance(sort, str) else sort
    if isinstance(sort, str) and "." in sort and sort.split(".", 1)[0] in ROOTS:
        return field_path(sort)
    if not isinstance(sort, str) or sort not in SORT_COLUMNS:
        raise InputError(
            f"Cannot sort by {shown(sort)}; choose one of {', '.join(SORT_COLUMNS)} "
            "or a field such as input.tasks."
        )
    return Field(sort)


def field_column(field: Field) -> ColumnElement[Any]:
    """The SQL of a field a filter part tests: a column of runs, or the value at a dotted path
    in its JSON column (orchestrator.db.json_paths: the path a literal, for expression indexes)."""
    if field.dotted:
        return json_at(runs.c[field.column], field.keys)
    if field.name in DERIVED:
        return DERIVED[field.name]
    return runs.c[field.name]


def sort_column(field: Field) -> ColumnElement[Any]:
    """The SQL a page sorted by `field` orders on."""
    return field_column(field) if field.dotted else SORT_COLUMNS[field.name]


def nullable_sort(field: Field) -> bool:
    """Whether runs can lack the sort's value (they come last, either way)."""
    return field.dotted or field.name in NULLABLE_SORTS


def where_clauses(test: Where, column: ColumnElement[Any] | None = None) -> list[ColumnElement[bool]]:
    """What a field filter means: the field holds a value of the test's kind and compares so
    (fields.py); `column`: the field's value as a planner spells it."""
    json_column, keys = runs.c[test.field.column], test.field.keys
    if test.op == "is set":
        return [json_type_at(json_column, keys).is_not(None)]
    if test.op == "is not set":
        return [json_type_at(json_column, keys).is_(None)]
    typed = JSON_KINDS[test.kind](json_column, keys)
    if test.op == "contains":
        return [typed, json_text_at(json_column, keys).icontains(str(test.value), autoescape=True)]
    value = field_column(test.field) if column is None else column
    return [typed, _compared(value, test)]


def _compared(value: ColumnElement[Any], test: Where, other: Any = None) -> ColumnElement[bool]:
    other = json_value(test.json_value) if other is None else other
    return {
        "=": value == other,
        "!=": value != other,
        "<": value < other,
        "<=": value <= other,
        ">": value > other,
        ">=": value >= other,
    }[test.op]


NUMBER_OPERATORS = ("=", "!=", "<", "<=", ">", ">=")


def number_clause(test: Where, number: ColumnElement[Any] | None = None) -> ColumnElement[bool]:
    """A numeric comparison (`input.tasks >= 100`) as one clause on the field's number
    (json_paths.json_number_at: NULL unless a number), what where_clauses means in two: SQLite's
    number index (db.field_indexes) answers it, and its count, without reading a row.
    `number`: that number as a column of its own (PostgreSQL's, `numeric`: the value is bound as
    one, exact as jsonb compares numbers)."""
    if test.kind != "number" or test.op not in NUMBER_OPERATORS:
        raise ValueError(f"{test} is not a numeric comparison")
    if number is not None:
        return _compared(number, test, cast(literal(test.json_value, String()), Numeric()))
    return _compared(json_number_at(runs.c[test.field.column], test.field.keys), test)


def text_like(text: str) -> ColumnElement[bool]:
    """Runs whose id, tags or input contain `text`, in any case, `%` and `_` taken literally
    (PostgreSQL's pg_trgm indexes serve it; SQLite's planner reads its search index instead)."""
    return or_(
        runs.c.run_id.icontains(text, autoescape=True),
        json_text(runs.c.tags).icontains(text, autoescape=True),
        json_text(runs.c.input).icontains(text, autoescape=True),
    )


def clauses(part: FilterPart, column: ColumnElement[Any] | None = None) -> list[ColumnElement[bool]]:
    """What one part means, as WHERE clauses on its field's column, or on `column`: the same
    column as a planner spells it (SQLite's planner keeps a part off its index that way)."""
    if isinstance(part, Contains):
        return [text_like(part.text)]
    if isinstance(part, Where):
        return where_clauses(part, column)
    if column is None:
        column = field_column(part.field)
    if isinstance(part, OneOf):
        return [column.in_(list(part.values))]
    if isinstance(part, Equals):
        return [column == part.value]
    found = []
    if part.low is not None:
        found.append(column >= part.low)
    if part.high is not None:
        found.append(column <= part.high if part.high_inclusive else column < part.high)
    return found


def conditions(filters: RunFilter) -> list[ColumnElement[bool]]:
    """Every part's clauses, as written."""
    return [cond for part in filters.parts().values() for cond in clauses(part)]


def page_select(
    source: FromClause,
    conds: list[Any],
    sort: Field,
    descending: bool,
    limit: int,
    offset: int,
    *,
    order_on: ColumnElement[Any] | None = None,
    fields: tuple[Field, ...] = (),
    ids_first: bool = False,
    nulls_last: bool = True,
) -> Select[Any]:
    """One page of the runs in `source` that match `conds`, sorted by `sort` (nulls last), then
    by run id in the same direction, so that every order is total and pages never overlap.
    `order_on`: the sort's column as a planner spells it (else as sort_column has it); `fields`:
    dotted fields to read as more columns, each labelled by its path (the CSV's); `ids_first`:
    find the page's run ids first at any offset (an index that holds the sort's column finds
    them without reading a row); not `nulls_last`: `order_on` is NULL in no run that matches (an
    index in either direction then serves the order)."""
    column = sort_column(sort) if order_on is None else order_on
    order = column.desc() if descending else column.asc()
    if nullable_sort(sort) and nulls_last:
        order = order.nulls_last()
    tiebreak = runs.c.run_id.desc() if descending else runs.c.run_id.asc()
    shown = [*LIST_COLUMNS, *(runs.c[f.column][f.keys].label(f.name) for f in fields)]
    if offset < DEFER_OFFSET and not ids_first:
        stmt = select(*shown).select_from(source).where(*conds)
        return stmt.order_by(order, tiebreak).limit(limit).offset(offset)
    # A deep page finds its run ids first, on the sort's index alone where the filters allow,
    # then reads those runs: PostgreSQL otherwise reads every skipped row from the table.
    ids = select(runs.c.run_id).select_from(source).where(*conds)
    ids = ids.order_by(order, tiebreak).limit(limit).offset(offset)
    return select(*shown).where(runs.c.run_id.in_(ids)).order_by(order, tiebreak)


def count_select(source: FromClause, conds: list[Any], cap: int | None) -> Select[Any]:
    """How many runs in `source` match `conds`; with `cap`, of at most cap + 1 of them (a capped
    count reads no more rows than that, so a broad filter costs what a narrow one does)."""
    if cap is None:
        return select(func.count()).select_from(source).where(*conds)
    matching = select(literal(1).label("one")).select_from(source).where(*conds).limit(cap + 1).subquery()
    return select(func.count()).select_from(matching)


Builder = TypeVar("Builder", bound=Callable[..., Any])
_caches: list[Any] = []


def kept(build: Builder) -> Builder:
    """Keep the most recent statements a builder made, by its (hashable) arguments.

    Building a statement and computing its SQLAlchemy cache key took ~0.1 ms of the runs page's
    ~1 ms at 100,000 runs on SQLite (page and count). A page shown again (a rerun, a live
    refresh, the next user with the same filters) asks for the same statements. A statement
    holds its filter's values as bound parameters and is never changed after it is built, so
    one object serves every caller, on any engine or thread."""
    cached = lru_cache(maxsize=256)(build)
    _caches.append(cached)
    return cached  # type: ignore[return-value]


def forget_statements() -> None:
    """Build every statement anew (tests that change DEFER_OFFSET or a planner's thresholds)."""
    for cached in _caches:
        cached.cache_clear()


@kept
def portable_page(
    filters: RunFilter, sort: Field, descending: bool, limit: int, offset: int, fields: tuple[Field, ...] = ()
) -> Select[Any]:
    """A page as written: every filter on its own index, the database's planner to choose."""
    return page_select(runs, conditions(filters), sort, descending, limit, offset, fields=fields)


def ids_select(filters: RunFilter, limit: int) -> Select[Any]:
    """The id and status of the runs that match, newest first, at most `limit` of them (what a
    bulk action acts on; the database's planner chooses the index)."""
    stmt = select(runs.c.run_id, runs.c.status).where(*conditions(filters))
    return stmt.order_by(runs.c.created_at.desc(), runs.c.run_id.desc()).limit(limit)


@kept
def portable_count(filters: RunFilter, cap: int | None) -> Select[Any]:
    """A count as written (see count_select)."""
    return count_select(runs, conditions(filters), cap)
