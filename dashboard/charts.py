"""Altair charts built from the package's plain rows."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

STATUS_COLORS = alt.Scale(
    domain=["succeeded", "failed", "running", "interrupted", "cancelled", "queued", "awaiting_input"],
    range=["#2e7d32", "#c62828", "#1565c0", "#ef6c00", "#757575", "#9e9e9e", "#6a1b9a"],
)


def task_timeline(tasks: list[dict[str, Any]]) -> alt.Chart:
    """A Gantt-style chart: one bar per task from start to end, a row per node, colour by status."""
    frame = pd.DataFrame(tasks)
    now = pd.Timestamp.now(tz="UTC")
    frame["end"] = frame["finished_at"].fillna(now)
    frame["duration"] = frame["duration_seconds"].round(3)
    return (
        alt.Chart(frame)
        .mark_bar(height=8)
        .encode(
            x=alt.X("started_at:T", title="time (UTC)"),
            x2="end:T",
            y=alt.Y("node:N", title=None, sort=alt.EncodingSortField("started_at", op="min")),
            color=alt.Color("status:N", scale=STATUS_COLORS, legend=alt.Legend(orient="bottom")),
            tooltip=["node", "task_id", "status", "duration", "error"],
        )
        .properties(height=max(80, 40 * frame["node"].nunique()))
    )
