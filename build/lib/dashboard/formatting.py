"""How runs look on every page: status labels, durations, table columns."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pandas as pd
import streamlit as st

STATUS_ICONS = {
    "queued": "⏳",
    "running": "🔄",
    "awaiting_input": "✋",
    "succeeded": "✅",
    "failed": "❌",
    "cancelled": "🚫",
    "interrupted": "⚠️",
}


def status_label(status: str) -> str:
    return f"{STATUS_ICONS.get(status, '•')} {status}"


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def time_text(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "–"


def cell_text(value: Any) -> str:
    """A value as a short table cell: floats to 3 decimals, times in UTC, lists joined."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, dt.datetime):
        return time_text(value)
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "–"
    return str(value)


def json_text(value: Any) -> str:
    """A JSON value as written (10 stays 10, strings quoted), or – for nothing."""
    return "–" if value is None else json.dumps(value, ensure_ascii=False, default=str)


def detail_link(run_id: str) -> str:
    return f"run_detail?run_id={run_id}"


def runs_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The runs list as shown: link, status label, progress fraction."""
    frame = pd.DataFrame(
        {
            "run_id": [detail_link(r["run_id"]) for r in rows],
            "workflow": [r["workflow"] for r in rows],
            "status": [status_label(r["status"]) for r in rows],
            "created_at": [r["created_at"] for r in rows],
            "duration_seconds": [r["duration_seconds"] for r in rows],
            "tasks_total": [r["tasks_total"] for r in rows],
            "tasks_completed": [r["tasks_completed"] for r in rows],
            "tasks_failed": [r["tasks_failed"] for r in rows],
            "progress": [r["tasks_completed"] / r["tasks_total"] if r["tasks_total"] else 0.0 for r in rows],
            "tags": [list(r["tags"] or []) for r in rows],
        }
    )
    return frame


RUNS_COLUMNS = {
    "run_id": st.column_config.LinkColumn("Run", display_text=r"run_id=(.*)$", width="medium"),
    "workflow": st.column_config.TextColumn("Workflow"),
    "status": st.column_config.TextColumn("Status"),
    "created_at": st.column_config.DatetimeColumn("Created (UTC)", format="YYYY-MM-DD HH:mm:ss"),
    "duration_seconds": st.column_config.NumberColumn("Duration", format="%.1f s"),
    "tasks_total": st.column_config.NumberColumn("Tasks", format="%d"),
    "tasks_completed": st.column_config.NumberColumn("Completed", format="%d"),
    "tasks_failed": st.column_config.NumberColumn("Failed", format="%d"),
    "progress": st.column_config.ProgressColumn("Progress", min_value=0.0, max_value=1.0, format="percent"),
    "tags": st.column_config.ListColumn("Tags"),
}
