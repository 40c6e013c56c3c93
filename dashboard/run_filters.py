"""The runs page's filters: their widgets' keys, their URL names, and the RunFilter they make."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dashboard.url_state import Param
from orchestrator.errors import InputError
from orchestrator.run_queries import SORT_COLUMNS, TASK_COUNTS, RunFilter, sort_field, where
from orchestrator.run_queries.columns import checked_columns
from orchestrator.runs import RunStore
from orchestrator.runs_csv import csv_bytes
from orchestrator.status import ALL_STATUSES
from orchestrator.validation import day_bounds

PAGE_SIZES = (25, 50, 100, 200)
COUNT_LABELS = {"tasks_total": "Tasks", "tasks_completed": "Completed", "tasks_failed": "Failed"}

PARAMS: list[Param] = [
    Param("runs_status", "status", "list", [], tuple(ALL_STATUSES)),
    Param("runs_workflow", "workflow", "list", []),
    *(
        Param(f"runs_{count}_{bound}", f"{count}_{bound}", "int", None)
        for count in TASK_COUNTS
        for bound in ("min", "max")
    ),
    Param("runs_created", "created", "date_range", ()),
    Param("runs_search", "q", "str", ""),
    Param("runs_launched_by", "launched_by", "str", ""),
    # Field filters, one a line as written (`input.tasks >= 100`); checked by RunFilter.
    Param("runs_where", "where", "str", ""),
    Param("runs_sort", "sort", "str", "created_at", tuple(SORT_COLUMNS)),
    # A field to sort by instead (`input.tasks`); checked by run_queries.sort_field.
    Param("runs_sort_field", "sort_field", "str", ""),
    # Fields shown as more columns (`input.tasks,metrics.accuracy`); checked by run_queries.columns.
    Param("runs_columns", "columns", "list", []),
    Param("runs_ascending", "asc", "bool", False),
    Param("runs_page_size", "size", "int", 50, tuple(str(size) for size in PAGE_SIZES)),
    Param("runs_page", "page", "int", 1),
    # The plots of the filtered runs (dashboard/run_plots.py): shown or not, and what they draw.
    Param("runs_plot", "plot", "bool", False),
    Param("runs_plot_x", "plot_x", "str", "created_at"),
    Param("runs_plot_y", "plot_y", "str", "work_seconds"),
    Param("runs_plot_color", "plot_color", "str", "status"),
    Param("runs_plot_fields", "plot_fields", "list", []),
]
URL_MARKER = "runs_url"


def to_run_filter(state: Mapping[str, Any]) -> RunFilter:
    """The RunFilter for the widgets' current values; InputError (one sentence) for a value out of range."""
    counts: dict[str, Any] = {}
    for count in TASK_COUNTS:
        for bound in ("min", "max"):
            value = state.get(f"runs_{count}_{bound}")
            counts[f"{count}_{bound}"] = int(value) if value is not None else None
    dates = tuple(state.get("runs_created") or ())
    created_from = created_to = None
    if dates:
        created_from, created_to = day_bounds(dates[0], dates[-1], "The created date")
    return RunFilter(
        statuses=list(state.get("runs_status") or []),
        workflows=list(state.get("runs_workflow") or []),
        created_from=created_from,
        created_to=created_to,
        text=state.get("runs_search") or "",
        launched_by=(state.get("runs_launched_by") or "").strip() or None,
        where=where_lines(state.get("runs_where")),
        **counts,
    )


def where_lines(text: str | None) -> list[str]:
    """The field filters of the page's box: one a line, blank lines left out."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def chosen_sort(state: Mapping[str, Any]) -> str:
    """The page's sort: the field typed (checked), else the column chosen."""
    field = (state.get("runs_sort_field") or "").strip()
    return sort_field(field).name if field else str(state.get("runs_sort") or "created_at")


def chosen_columns(state: Mapping[str, Any]) -> list[str]:
    """The field columns chosen (checked: InputError, one sentence, for a path from a bad link)."""
    return [field.name for field in checked_columns(state.get("runs_columns") or [])]


def add_where(state: Any) -> None:
    """The filter editor's path, operator and value as one more line of the field filters (checked:
    a mistake is kept in `runs_where_error`, one sentence)."""
    try:
        test = where(
            state.get("runs_where_path") or "",
            state.get("runs_where_op") or "=",
            state.get("runs_where_value") or "",
        )
    except InputError as exc:
        state["runs_where_error"] = str(exc)
        return
    state["runs_where_error"] = ""
    state["runs_where"] = "\n".join([*where_lines(state.get("runs_where")), str(test)])


def csv_export(
    store: RunStore,
    filters: RunFilter,
    sort: str,
    descending: bool,
    *,
    limit: int | None,
    columns: Sequence[str] = (),
) -> Callable[[], bytes]:
    """What makes the CSV of the filtered runs (the first `limit`, or all), in the order on screen,
    when its button is clicked (orchestrator.runs_csv streams it from the database).

    Streamlit calls it outside the page's script run, where there is no session state, so it
    reads only the values given here."""
    fields = tuple(columns)
    return lambda: csv_bytes(store, filters, sort=sort, descending=descending, limit=limit, columns=fields)
