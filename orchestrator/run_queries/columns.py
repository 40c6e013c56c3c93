"""Fields shown as columns: their values for a page of runs, and the fields a page can offer.

A column is a dotted path (`input.tasks`, `state.summary.total`, `metrics.accuracy`; fields.py).
Its values are read for the page's runs only, by their ids (one statement, the primary key), so
a page with columns costs its page plus one lookup of at most a page of rows; the CSV reads them
in its own statement (statements.portable_page's `fields`).

    >>> field_choices([SimulateInput], [{"input": {"tasks": 3}, "state_snapshot": {"summary": {"total": 3}}}])
    ['input.tasks', ..., 'state.summary.total']
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Connection, select

from orchestrator.db import runs
from orchestrator.errors import InputError
from orchestrator.run_queries.fields import KEY, ROOTS, Field, field_path

if TYPE_CHECKING:
    import pydantic

MAX_COLUMNS = 20
# Fields found in a page's runs: keys this deep at most (a column shows one value, not a tree).
FOUND_DEPTH = 3


def checked_columns(columns: Iterable[str] | str | None) -> tuple[Field, ...]:
    """The columns asked for (a list, or one text of paths separated by commas), each checked,
    each once, at most MAX_COLUMNS; InputError in one sentence otherwise."""
    if columns is None:
        return ()
    names = columns.split(",") if isinstance(columns, str) else list(columns)
    fields = tuple(dict.fromkeys(field_path(name) for name in names if str(name).strip()))
    if len(fields) > MAX_COLUMNS:
        raise InputError(f"{len(fields)} field columns asked for; show at most {MAX_COLUMNS}.")
    return fields


def value_column(field: Field) -> ColumnElement[Any]:
    """A field's value as stored (a number, a text, a list, a dict, None), labelled by its path:
    SQLAlchemy's JSON path (bound) on either database, read back as JSON."""
    return runs.c[field.column][field.keys].label(field.name)


def field_values(
    conn: Connection, run_ids: Sequence[str], fields: Sequence[Field]
) -> dict[str, dict[str, Any]]:
    """Each run's value of each field (None where it has none), by run id."""
    if not run_ids or not fields:
        return {run_id: {} for run_id in run_ids}
    stmt = select(runs.c.run_id, *(value_column(f) for f in fields)).where(runs.c.run_id.in_(list(run_ids)))
    found = {row[0]: {f.name: row[i + 1] for i, f in enumerate(fields)} for row in conn.execute(stmt)}
    return {run_id: found.get(run_id, dict.fromkeys(f.name for f in fields)) for run_id in run_ids}


def _leaves(root: str, value: Any, prefix: tuple[str, ...] = ()) -> Iterable[str]:
    if not isinstance(value, dict):
        if prefix:
            yield ".".join([root, *prefix])
        return
    if len(prefix) >= FOUND_DEPTH or (root == "metrics" and prefix):
        return
    for key, inner in value.items():
        if isinstance(key, str) and KEY.fullmatch(key):
            yield from _leaves(root, inner, (*prefix, key))


def field_choices(
    input_models: Iterable[type[pydantic.BaseModel] | None], rows: Iterable[dict[str, Any]]
) -> list[str]:
    """The fields a page offers as columns: those the workflows' input models declare, then those
    found in the rows' input, state_snapshot and metrics (each once, sorted within its root)."""
    found: set[str] = set()
    for model in input_models:
        if model is not None:
            found.update(f"input.{name}" for name in model.model_fields if KEY.fullmatch(name))
    for row in rows:
        for root, column in ROOTS.items():
            found.update(_leaves(root, row.get(column)))
    order = {root: i for i, root in enumerate(ROOTS)}
    return sorted(found, key=lambda name: (order[name.split(".", 1)[0]], name))


def page_json(conn: Connection, run_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The JSON columns of a page's runs (what field_choices looks into)."""
    if not run_ids:
        return []
    stmt = select(runs.c.input, runs.c.state_snapshot, runs.c.metrics).where(runs.c.run_id.in_(list(run_ids)))
    return [dict(row._mapping) for row in conn.execute(stmt)]
