"""How values look on every page: one time format (UTC), durations, table cells and columns."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.looks import look, status_colors, status_word
from orchestrator.progress import run_progress
from orchestrator.status import ACTIVE

# The one way a moment is written, everywhere: 2026-11-27 14:03:05 UTC.
TIME_FORMAT = "%Y-%m-%d %H:%M:%S UTC"
# The same, for the tables' datetime columns (moment.js tokens, the time zone fixed to UTC).
TABLE_TIME_FORMAT = "YYYY-MM-DD HH:mm:ss [UTC]"
# What a table shows for a missing value (instead of the word None).
MISSING = "–"


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return MISSING
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def percent_text(fraction: float | None) -> str:
    """A rate as every page writes it: 80.0%, never 0.800."""
    return MISSING if fraction is None else f"{fraction:.1%}"


def metric_text(key: str, value: Any) -> str:
    """A compared metric's cell: durations and rates as everywhere else, the rest as a cell."""
    if key.endswith("_seconds"):
        return duration_text(value)
    if key.endswith("_rate"):
        return percent_text(value)
    if key == "status" and value is not None:
        return status_word(value)
    return cell_text(value)


def times_line(run: Mapping[str, Any]) -> str:
    """A run's two durations in one line that says what each is (Markdown)."""
    work, wall = run.get("work_seconds"), run.get("wall_seconds")
    if work is None and wall is None:
        return "Not started yet."
    until = "now" if run["status"] in ACTIVE else "its last finish"
    return (
        f"Worked **{duration_text(work)}** (its attempts' running time) · wall time "
        f"**{duration_text(wall)}** (first start to {until}, with its waits for a person, in the "
        "queue and between attempts)"
    )


def count_text(n: int) -> str:
    """A count that fits half the sidebar: exact below 100,000, then "250K", "1.2M" (from 1,000,000)."""
    if n < 100_000:
        return f"{n:,}"
    if n < 999_500:
        return f"{n / 1_000:.0f}K"
    return f"{n / 1_000_000:.1f}M"


def as_utc(value: dt.datetime | str) -> dt.datetime:
    """A datetime (or ISO text, as LangGraph stores checkpoint times) in UTC; naive means UTC."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def time_text(value: dt.datetime | str | None) -> str:
    return as_utc(value).strftime(TIME_FORMAT) if value else MISSING


def period_text(length: dt.timedelta) -> str:
    """'24 hours', '7 days', '8 days', '36 hours': a period's length in words."""
    hours = length.total_seconds() / 3600
    if hours <= 48 or hours % 24:
        return f"{hours:g} hour{'s' * (hours != 1)}"
    days = int(hours // 24)
    return f"{days} day{'s' * (days != 1)}"


def cell_text(value: Any) -> str:
    """A value as a short table cell: floats to 3 decimals, times in UTC, lists joined."""
    if value is None:
        return MISSING
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, dt.datetime):
        return time_text(value)
    if isinstance(value, list):
        return ", ".join(map(str, value)) or MISSING
    return str(value)


FIELD_CELL_CHARS = 120


def compared_field_text(value: Any, present: bool = True) -> str:
    """A field's cell (compare): a text as written, anything else as JSON (0.125, true, null,
    [1, 2]), cut at FIELD_CELL_CHARS; – where the run has no such field."""
    if not present:
        return MISSING
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= FIELD_CELL_CHARS else text[: FIELD_CELL_CHARS - 1] + "…"


def json_text(value: Any) -> str:
    """A JSON value as written (10 stays 10, strings quoted), or – for nothing."""
    return MISSING if value is None else json.dumps(value, ensure_ascii=False, default=str)


def detail_link(run_id: str) -> str:
    return f"run_detail?run_id={run_id}"


def time_column(label: str, **kwargs: Any) -> Any:
    """A table column of moments, written as everywhere else."""
    return st.column_config.DatetimeColumn(label, format=TABLE_TIME_FORMAT, timezone="UTC", **kwargs)


def status_column(label: str = "Status") -> Any:
    """A table column of statuses (one-item lists), each a label in its status colour."""
    statuses, colors = status_colors()
    return st.column_config.MultiselectColumn(
        label, options=statuses, color=colors, width=112, format_func=status_word
    )


def runs_frame(rows: Sequence[Mapping[str, Any]], fields: Sequence[str] = ()) -> pd.DataFrame:
    """The runs list as shown: link, status, completed tasks in percent; then each field column
    (a number or text as it is, a list or an object as JSON)."""
    frame = pd.DataFrame(
        {
            "run_id": [detail_link(r["run_id"]) for r in rows],
            "workflow": [r["workflow"] for r in rows],
            "status": [[r["status"]] for r in rows],
            "created_at": pd.Series([r["created_at"] for r in rows], dtype="datetime64[us, UTC]"),
            "work_seconds": pd.Series([r["work_seconds"] for r in rows], dtype="float64"),
            "wall_seconds": pd.Series([r["wall_seconds"] for r in rows], dtype="float64"),
            "tasks_total": [r["tasks_total"] for r in rows],
            "tasks_completed": [r["tasks_completed"] for r in rows],
            "tasks_failed": [r["tasks_failed"] for r in rows],
            # None while a going run's number of tasks is not known (orchestrator.progress).
            "progress": pd.Series([_percent(run_progress(r).fraction) for r in rows], dtype="float64"),
            "tags": [", ".join(r["tags"] or []) for r in rows],
        }
    )
    for name in fields:
        values = [r.get(name) for r in rows]
        numeric = all(v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in values)
        frame[name] = pd.Series(values, dtype="float64") if numeric else [field_text(v) for v in values]
    return frame


def field_text(value: Any) -> str | None:
    """A field's value as a table cell's text (JSON for anything but a text)."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def runs_columns() -> dict[str, Any]:
    """The runs table's columns, narrow enough that every one shows whole at 1440 px."""
    return {
        "run_id": st.column_config.LinkColumn("Run", display_text=r"run_id=(.{12}).*$", width=100),
        "workflow": st.column_config.TextColumn("Workflow", width=92),
        "status": status_column(),
        "created_at": time_column("Created", width=158),
        "work_seconds": st.column_config.NumberColumn(
            "Work", format="%.1f s", width=66, help="Its attempts' running time (so far, while it goes)"
        ),
        "wall_seconds": st.column_config.NumberColumn(
            "Wall", format="%.1f s", width=66, help="First start to last finish, waits included"
        ),
        "tasks_total": st.column_config.NumberColumn("Tasks", format="%d", width=50),
        "tasks_completed": st.column_config.NumberColumn("Completed", format="%d", width=78),
        "tasks_failed": st.column_config.NumberColumn("Failed", format="%d", width=50),
        "progress": st.column_config.ProgressColumn(
            "Progress", min_value=0, max_value=100, format="%d%%", color=look("succeeded").color, width=84
        ),
        "tags": st.column_config.TextColumn("Tags"),
    }


def _percent(fraction: float | None) -> float | None:
    return None if fraction is None else float(int(100 * fraction))
