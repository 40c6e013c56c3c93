"""Compare N runs (2 to 20) side by side: their figures, inputs, final-state fields and metrics as
rows of one table, each cell that differs from the others marked; their metric series overlaid.

Plain functions over run rows (`RunStore.get_runs`: every column, `input`, `state_snapshot` and
`metrics` among them); the compare page renders what they return. A field row is named by its
path as everywhere else (`input.tasks`, `state.summary.total`, `metrics.accuracy`; a key that is
not identifier-like is written in brackets, `input["a b"]`, as `diff_json` writes it).

Which cells are marked: a row's usual value is the one most runs hold (on a tie, the one the
earliest of the tied runs holds); every cell that does not hold it is marked. With two runs
that differ, run 2's cell is marked; with values a, a, b, run 3's; with a, b, b, run 1's.
A field a run does not have differs from any value, null included.

    >>> rows = side_by_side([{"input": {"n": 1}}, {"input": {"n": 1}}, {"input": {"n": 2}}])["rows"]
    >>> [(r["label"], r["marked"]) for r in rows if r["section"] == "input"]
    [('input.n', [2])]
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypedDict

from orchestrator.compare import compare_table, compared_value, json_equal
from orchestrator.run_queries.fields import KEY, MAX_KEYS

__all__ = [
    "MAX_COMPARED",
    "MAX_FIELD_ROWS",
    "CompareRow",
    "SideBySide",
    "field_leaves",
    "marked_cells",
    "overlaid_series",
    "side_by_side",
]

MAX_COMPARED = 20  # runs at once: columns that still fit a screen
MAX_FIELD_ROWS = 400  # input, state and metric rows at most (a state can hold thousands of keys)
Section = Literal["run", "input", "state", "metrics"]
# Each field section and the column of `runs` it reads, in the table's order.
FIELD_SECTIONS: tuple[tuple[Section, str], ...] = (
    ("input", "input"),
    ("state", "state_snapshot"),
    ("metrics", "metrics"),
)


class CompareRow(TypedDict):
    """One row of the N-way table."""

    section: Section  # run: the figures every run has; input, state, metrics: a field's path
    label: str  # "Status", "input.tasks"
    key: str  # the run's key (`tasks_total`) or the field's path
    values: list[Any]  # each run's value, in the order the runs were given (None: not there)
    present: list[bool]  # whether each run has the field (always True for the run's figures)
    differs: bool
    marked: list[int]  # the runs (indices) whose cell is not the row's usual value


class SideBySide(TypedDict):
    rows: list[CompareRow]
    fields_left_out: int  # field rows past MAX_FIELD_ROWS, not in `rows`


_ABSENT = object()


def _same(left: Any, right: Any) -> bool:
    if left is _ABSENT or right is _ABSENT:
        return left is right
    return json_equal(left, right)


def marked_cells(keys: Sequence[Any]) -> list[int]:
    """The indices of the cells that do not hold the usual value (the one most cells hold; on a
    tie, the earliest cell's among the tied). `keys` are the values as compared.

        >>> marked_cells([1, 1, 2]), marked_cells([1, 2, 2]), marked_cells([1, 2, 3]), marked_cells([1, 1.0])
        ([2], [0], [1, 2], [])
    """
    groups: list[list[int]] = []  # indices holding one value, in order of first appearance
    for i, key in enumerate(keys):
        for group in groups:
            if _same(keys[group[0]], key):
                group.append(i)
                break
        else:
            groups.append([i])
    if len(groups) <= 1:
        return []
    usual = max(groups, key=len)  # max keeps the first of equal lengths: the earliest value
    return [i for i in range(len(keys)) if i not in set(usual)]


def _path(parent: str, key: Any) -> str:
    key = str(key)
    return f"{parent}.{key}" if KEY.fullmatch(key) else f"{parent}[{json.dumps(key, ensure_ascii=False)}]"


def field_leaves(root: str, value: Any, depth: int = MAX_KEYS) -> list[tuple[str, Any]]:
    """A JSON value's leaves under `root`, as (path, value), in key order: dicts are walked down to
    `depth` keys (a dict deeper, or an empty one, is a leaf); a list is a leaf (one cell).

        >>> field_leaves("state", {"summary": {"total": 3, "ok": True}, "results": [1, 2]})
        [('state.summary.total', 3), ('state.summary.ok', True), ('state.results', [1, 2])]
    """
    found: list[tuple[str, Any]] = []

    def walk(path: str, inner: Any, level: int) -> None:
        if isinstance(inner, dict) and inner and level < depth:
            for key, item in inner.items():
                walk(_path(path, key), item, level + 1)
        elif level > 0:
            found.append((path, inner))

    walk(root, value, 0)
    return found


def _run_rows(runs: Sequence[Mapping[str, Any]]) -> list[CompareRow]:
    rows: list[CompareRow] = []
    for row in compare_table(runs):
        marked = marked_cells([compared_value(row["key"], v) for v in row["values"]])
        rows.append(
            {
                "section": "run",
                "label": row["metric"],
                "key": row["key"],
                "values": row["values"],
                "present": [True] * len(runs),
                "differs": bool(marked),
                "marked": marked,
            }
        )
    return rows


def _field_rows(runs: Sequence[Mapping[str, Any]], section: Section, column: str) -> list[CompareRow]:
    leaves = [dict(field_leaves(section, run.get(column))) for run in runs]
    paths = list(dict.fromkeys(path for found in leaves for path in found))
    rows: list[CompareRow] = []
    for path in paths:
        keys = [found.get(path, _ABSENT) for found in leaves]
        marked = marked_cells(keys)
        rows.append(
            {
                "section": section,
                "label": path,
                "key": path,
                "values": [None if k is _ABSENT else k for k in keys],
                "present": [k is not _ABSENT for k in keys],
                "differs": bool(marked),
                "marked": marked,
            }
        )
    return rows


def side_by_side(runs: Sequence[Mapping[str, Any]], max_field_rows: int = MAX_FIELD_ROWS) -> SideBySide:
    """The N-way table: a row per figure of `compare.METRICS` (the run rows, compared as
    `compare_table` compares them), then a row per input, final-state and metric field any run
    has (in that order; within each, in order of first appearance, run 1's keys first), at most
    `max_field_rows` of them.
    """
    fields = [row for section, column in FIELD_SECTIONS for row in _field_rows(runs, section, column)]
    return {
        "rows": _run_rows(runs) + fields[:max_field_rows],
        "fields_left_out": max(0, len(fields) - max_field_rows),
    }


def overlaid_series(
    names: Sequence[str], series: Sequence[Mapping[str, Sequence[Mapping[str, Any]]]]
) -> list[dict[str, Any]]:
    """The metric series of several runs as one long table (run, metric, step, value), the runs in
    the order given, each run's points by metric name and step (`RunStore.metric_series` per run).

        >>> overlaid_series(["1: a"], [{"loss": [{"step": 0, "value": 1.0}]}])
        [{'run': '1: a', 'metric': 'loss', 'step': 0, 'value': 1.0}]
    """
    return [
        {"run": name, "metric": metric, "step": point["step"], "value": point["value"]}
        for name, by_metric in zip(names, series, strict=True)
        for metric in sorted(by_metric)
        for point in sorted(by_metric[metric], key=lambda p: p["step"])
    ]
