"""Fields by dotted path (`input.tasks`, `state.summary.total`, `metrics.accuracy`) and the typed
tests on them (`input.tasks >= 100`), as checked values: no SQL here.

A path is a root (`input`: the run's input, `state`: its final state, `metrics`: the latest value
of each metric it recorded) and one or more keys, each identifier-like (a letter or `_`, then
letters, digits or `_`). Nothing else is accepted, so a path can be written into SQL as a JSON
path literal (which an expression index needs) and never carries SQL of its own; a value is
always a bound parameter.

A test is typed by its value: `>= 100` compares numbers, `= done` texts, `= true` booleans; a run
matches only where the field holds a value of that type (a run without the field, or with a
text where a number is asked for, does not match `!=` either). `contains` finds text in a text
field, in any case; `is set` / `is not set` ask whether the key is there at all.

    >>> parse_where("input.tasks >= 100")
    Where(field=Field(name='input.tasks'), op='>=', value=100)
    >>> str(parse_where('state.summary.label contains "a b"'))
    "state.summary.label contains 'a b'"
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from orchestrator.errors import InputError
from orchestrator.validation import MAX_SEARCH_CHARS, shown

# The JSON column of `runs` each root reads.
ROOTS = {"input": "input", "state": "state_snapshot", "metrics": "metrics"}
KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
MAX_KEYS = 6
ORDERED = ("<", "<=", ">", ">=")
COMPARISONS = ("=", "!=", *ORDERED)
OPERATORS = (*COMPARISONS, "contains", "is set", "is not set")
_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_WHERE = re.compile(
    r"\s*(?P<path>[^\s<>=!]+)\s*(?:(?P<set>is\s+set|is\s+not\s+set)\s*"
    r"|(?P<op>!=|<=|>=|=|<|>|contains\b)\s*(?P<value>.*?)\s*)",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True)
class Field:
    """A field a filter tests, a page is sorted by or a column shows: a column of `runs` by its
    name (`status`, `created_at`), or a dotted path into one of its JSON columns (`input.tasks`).
    `statements.field_column` is the one place that turns a field into SQL."""

    name: str

    def __str__(self) -> str:
        return self.name

    @property
    def dotted(self) -> bool:
        """Whether it is a path into a JSON column."""
        return "." in self.name

    @property
    def root(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def keys(self) -> tuple[str, ...]:
        """The keys after the root (`("summary", "total")` for `state.summary.total`)."""
        return tuple(self.name.split(".")[1:])

    @property
    def column(self) -> str:
        """The JSON column of `runs` its root reads."""
        return ROOTS[self.root]


def field_path(text: Any) -> Field:
    """The Field for a dotted path, or InputError in one sentence saying what a path is."""
    if not isinstance(text, str):
        raise InputError(f"A field path must be text like input.tasks, not {shown(text)}.")
    parts = text.strip().split(".")
    root, keys = parts[0], parts[1:]
    if root not in ROOTS:
        raise InputError(
            f"Unknown field {shown(text.strip())}: a field starts with {', '.join(ROOTS)} "
            "and names its keys with dots, e.g. input.tasks or state.summary.total."
        )
    if not keys or len(keys) > MAX_KEYS or not all(KEY.fullmatch(key) for key in keys):
        raise InputError(
            f"Field {shown(text.strip())} is not a path of keys: each key after {root}. is letters, "
            f"digits or _ (not starting with a digit), at most {MAX_KEYS} keys, e.g. {root}.tasks."
        )
    if root == "metrics" and len(keys) != 1:
        raise InputError(f"Field {shown(text.strip())}: a metric is one name, e.g. metrics.accuracy.")
    return Field(".".join([root, *keys]))


@dataclass(frozen=True)
class Where:
    """The field at a dotted path tested with an operator (OPERATORS) against a typed value
    (int, float, str or bool; None for `is set` / `is not set`)."""

    field: Field
    op: str
    value: int | float | str | bool | None = None

    @property
    def name(self) -> str:
        """Its name as a part of a RunFilter: as written, `input.tasks >= 100`."""
        return str(self)

    def __str__(self) -> str:
        if self.value is None:
            return f"{self.field} {self.op}"
        return f"{self.field} {self.op} {_shown_value(self.value)}"

    @property
    def kind(self) -> str:
        """What the field must hold to match: number, text, boolean, or any (is set / not set)."""
        if self.value is None:
            return "any"
        if isinstance(self.value, bool):
            return "boolean"
        return "number" if isinstance(self.value, int | float) else "text"

    @property
    def json_value(self) -> str:
        """The value as JSON text (what the statements bind)."""
        return json.dumps(self.value)


def _shown_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    if _NUMBER.fullmatch(text) or text.lower() in ("true", "false") or not text or text != text.strip():
        return repr(text)
    return text if "'" not in text and '"' not in text else json.dumps(text)


def typed_value(raw: str, op: str) -> int | float | str | bool:
    """A value as written: quoted is text, true/false a boolean, a number a number, else text."""
    text = raw.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        value: int | float | str | bool = text[1:-1]
    elif text.lower() in ("true", "false") and op != "contains":
        value = text.lower() == "true"
    elif _NUMBER.fullmatch(text) and op != "contains":
        number = float(text)
        value = int(text) if re.fullmatch(r"-?\d+", text) else number
        if not math.isfinite(number) or (isinstance(value, int) and abs(value) > 2**53):
            raise InputError(f"The number {shown(text)} is out of range; use one within ±2**53.")
    else:
        value = text
    if isinstance(value, str) and (len(value) > MAX_SEARCH_CHARS or "\x00" in value):
        raise InputError(f"A field filter's value is plain text of at most {MAX_SEARCH_CHARS} characters.")
    return value


def parse_where(text: Any) -> Where:
    """A field filter written as `<path> <operator> <value>` (`input.tasks >= 100`,
    `state.label contains done`, `metrics.cost is set`); InputError, one sentence, otherwise."""
    if isinstance(text, Where):
        return text
    if not isinstance(text, str):
        raise InputError(f"A field filter is text like 'input.tasks >= 100', not {shown(text)}.")
    found = _WHERE.fullmatch(text)
    if found is None:
        raise InputError(
            f"Cannot read the field filter {shown(text.strip())}: write <field> <operator> <value>, "
            f"e.g. input.tasks >= 100, with an operator of {', '.join(OPERATORS)}."
        )
    field = field_path(found["path"])
    if found["set"]:
        return Where(field, "is not set" if "not" in found["set"].lower() else "is set")
    op = found["op"].lower()
    if found["value"] == "":
        raise InputError(f"The field filter {shown(text.strip())} has no value after {op}.")
    return where(field, op, found["value"])


def where(field: Field | str, op: str, raw: Any) -> Where:
    """A field filter from its three parts (a form's path, operator and value), checked."""
    path = field if isinstance(field, Field) else field_path(field)
    if op not in OPERATORS:
        raise InputError(f"Unknown operator {shown(op)}; choose one of {', '.join(OPERATORS)}.")
    if op in ("is set", "is not set"):
        return Where(path, op)
    value = typed_value(raw, op) if isinstance(raw, str) else raw
    if isinstance(value, bool) and op in ORDERED:
        raise InputError(f"{path} {op} {_shown_value(value)}: true and false compare only with = and !=.")
    if not isinstance(value, int | float | str) or (isinstance(value, float) and not math.isfinite(value)):
        raise InputError(f"A field filter's value is a number, a text or true/false, not {shown(value)}.")
    if op == "contains" and not isinstance(value, str):
        value = _shown_value(value)
    return Where(path, op, value)
