"""Plots across runs: the values a scatter or a parallel-coordinates view of the filtered runs
draws, read in the database for a bounded sample of them.

An axis is one of the runs' own figures (`RUN_AXES`: task counts, work and wall time, and the
moments, which make the scatter a line over time) or a field (`input.delay_ms`,
`state.summary.total`, `metrics.accuracy`; run_queries.fields). The sample is the first
`limit` runs of the filter in the runs page's order, read as that page is (`RunStore.page_runs`,
with the plotted fields as columns), so a plot costs what a page of its size does; the count
beside it is the page's capped count ("showing 1,000 of 10,000+").

    >>> points, left_out = scatter_points(
    ...     [{"run_id": "a", "status": "failed", "workflow": "w", "tasks_total": 3, "input.n": 2},
    ...      {"run_id": "b", "status": "failed", "workflow": "w", "tasks_total": 4, "input.n": "x"}],
    ...     "tasks_total", "input.n", "status")
    >>> [(p["run_id"], p["x"], p["y"], p["color"]) for p in points], left_out
    ([('a', 3, 2, 'failed')], 1)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.errors import InputError
from orchestrator.run_queries import MatchCount, RunFilter, field_path
from orchestrator.validation import shown

if TYPE_CHECKING:
    from orchestrator.runs import RunStore

__all__ = [
    "COLOR_BY",
    "PLOT_LIMIT",
    "RUN_AXES",
    "PlotSample",
    "is_time",
    "parallel_points",
    "plot_axis",
    "plot_sample",
    "scatter_points",
]

PLOT_LIMIT = 1_000  # runs in one plot at most: more points than a chart shows apart
# The runs' own figures an axis can be: numbers, and moments (a line over time).
RUN_AXES: dict[str, str] = {
    "created_at": "time",
    "started_at": "time",
    "finished_at": "time",
    "tasks_total": "number",
    "tasks_completed": "number",
    "tasks_failed": "number",
    "work_seconds": "number",
    "wall_seconds": "number",
}
COLOR_BY = ("status", "workflow")  # or any field


def plot_axis(name: Any) -> str:
    """A run figure of RUN_AXES or a field's path, checked (InputError, one sentence, else)."""
    if isinstance(name, str) and name.strip() in RUN_AXES:
        return name.strip()
    if isinstance(name, str) and "." in name:
        return field_path(name).name
    raise InputError(
        f"Cannot plot {shown(name)}: choose one of {', '.join(RUN_AXES)} or a field such as input.tasks."
    )


def plot_color(name: Any) -> str:
    """What the points are coloured by: status, workflow or a field's path (checked)."""
    if isinstance(name, str) and name.strip() in COLOR_BY:
        return name.strip()
    if isinstance(name, str) and "." in name:
        return field_path(name).name
    raise InputError(
        f"Cannot colour by {shown(name)}: choose status, workflow or a field such as input.tasks."
    )


def is_time(axis: str) -> bool:
    return RUN_AXES.get(axis) == "time"


@dataclass(frozen=True)
class PlotSample:
    """The runs a plot draws (rows as the runs page lists them, with each plotted field by its
    path) and how many match the filter (capped as the page's count)."""

    rows: list[dict[str, Any]]
    count: MatchCount

    @property
    def sampled(self) -> bool:
        """Whether fewer runs are drawn than match."""
        return not self.count.exact or self.count.value > len(self.rows)


def plot_sample(
    store: RunStore,
    filters: RunFilter | None,
    axes: Sequence[str],
    *,
    sort: str = "created_at",
    descending: bool = True,
    limit: int | None = None,
) -> PlotSample:
    """The first `limit` runs (default PLOT_LIMIT) matching `filters` in the page's order, each
    with the fields among `axes` (run figures are in every row), and the count of all that match."""
    limit = PLOT_LIMIT if limit is None else limit
    fields = list(dict.fromkeys(name for name in axes if name not in RUN_AXES and name not in COLOR_BY))
    rows = store.page_runs(filters, sort=sort, descending=descending, limit=limit, columns=fields)
    count = store.count_matching(filters).at_least(len(rows))
    return PlotSample([dict(row) for row in rows], count)


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _axis_value(row: Mapping[str, Any], axis: str) -> Any:
    value = row.get(axis)
    if is_time(axis):
        return value if isinstance(value, dt.datetime) else None
    return _number(value)


def _color_value(row: Mapping[str, Any], color: str) -> Any:
    value = row.get(color)
    return value if value is None or isinstance(value, str | int | float) else str(value)


def scatter_points(
    rows: Sequence[Mapping[str, Any]], x: str, y: str, color: str
) -> tuple[list[dict[str, Any]], int]:
    """A point per run that has a number (a moment, for a time axis) on both axes, and how many
    runs were left out for lacking one. Over time (`is_time(x)`), the points are in time order
    (the line joins them so); else in the rows' order.

    Each point: run_id, x, y, color (the colouring field's value; None where the run has none),
    status, workflow."""
    points = []
    for row in rows:
        at_x, at_y = _axis_value(row, x), _axis_value(row, y)
        if at_x is None or at_y is None:
            continue
        points.append(
            {
                "run_id": row["run_id"],
                "x": at_x,
                "y": at_y,
                "color": _color_value(row, color),
                "status": row.get("status"),
                "workflow": row.get("workflow"),
            }
        )
    if is_time(x):
        points.sort(key=lambda p: (p["x"], p["run_id"]))
    return points, len(rows) - len(points)


def parallel_points(
    rows: Sequence[Mapping[str, Any]], fields: Sequence[str], color: str
) -> tuple[list[dict[str, Any]], int]:
    """Parallel coordinates: for each run with a number (or a moment) in every one of `fields`,
    a point per field (run_id, field, value, position, color), `position` the value placed
    between its field's lowest (0) and highest (1) among those runs (0.5 when they are all
    equal; a moment by its seconds), and how many runs were left out for lacking one.

        >>> points, _ = parallel_points([{"run_id": "a", "x": 1, "y": 5}, {"run_id": "b", "x": 3, "y": 5}],
        ...                             ["x", "y"], "x")
        >>> [(p["run_id"], p["field"], p["position"]) for p in points]
        [('a', 'x', 0.0), ('a', 'y', 0.5), ('b', 'x', 1.0), ('b', 'y', 0.5)]
    """
    fields = list(dict.fromkeys(fields))
    complete = []
    for row in rows:
        values = {f: _axis_value(row, f) for f in fields}
        if all(v is not None for v in values.values()):
            complete.append((row, values))
    numbers = {
        f: [v.timestamp() if isinstance(v, dt.datetime) else float(v) for _, vs in complete for v in [vs[f]]]
        for f in fields
    }
    span = {f: (min(numbers[f]), max(numbers[f])) if numbers[f] else (0.0, 0.0) for f in fields}
    points = []
    for i, (row, values) in enumerate(complete):
        for f in fields:
            low, high = span[f]
            number = numbers[f][i]
            points.append(
                {
                    "run_id": row["run_id"],
                    "field": f,
                    "value": values[f].isoformat() if isinstance(values[f], dt.datetime) else values[f],
                    "position": 0.5 if high == low else (number - low) / (high - low),
                    "color": _color_value(row, color),
                    "status": row.get("status"),
                    "workflow": row.get("workflow"),
                }
            )
    return points, len(rows) - len(complete)
