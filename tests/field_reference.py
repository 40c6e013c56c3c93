"""What a field filter and a field sort mean, written apart from the SQL (the reference the
field tests and the planners' tests compare the database's answers with)."""

from __future__ import annotations

from typing import Any

from orchestrator.run_queries import Field, Where

MISSING = object()


def value_at(row: dict[str, Any], field: Field) -> Any:
    """The field's value in the row as stored, or MISSING."""
    column = {"input": "input", "state": "state_snapshot", "metrics": "metrics"}[field.root]
    value: Any = row.get(column)
    for key in field.keys:
        if not isinstance(value, dict) or key not in value:
            return MISSING
        value = value[key]
    return value


def kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "text" if isinstance(value, str) else "other"


def py_where(row: dict[str, Any], test: Where) -> bool:
    """What a field filter means, written apart from the SQL (fields.py's docstring)."""
    value = value_at(row, test.field)
    if test.op == "is set":
        return value is not MISSING
    if test.op == "is not set":
        return value is MISSING
    if value is MISSING or kind_of(value) != test.kind:
        return False
    if test.op == "contains":
        return str(test.value).lower() in value.lower()
    want = test.value
    return {
        "=": value == want,
        "!=": value != want,
        "<": value < want,
        "<=": value <= want,
        ">": value > want,
        ">=": value >= want,
    }[test.op]


def py_field_order(rows: list[dict[str, Any]], field: Field, descending: bool) -> list[str]:
    """Sorted by a field whose values are all of one kind, missing (or null) last, then run id."""
    present = [r for r in rows if value_at(r, field) not in (MISSING, None)]
    missing = [r for r in rows if value_at(r, field) in (MISSING, None)]
    present.sort(key=lambda r: (value_at(r, field), r["run_id"]), reverse=descending)
    missing.sort(key=lambda r: r["run_id"], reverse=descending)
    return [r["run_id"] for r in present + missing]
