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
        .mark_bar(height={"band": 0.7})
        .encode(
            x=alt.X("started_at:T", title="time (UTC)"),
            x2="end:T",
            y=alt.Y("node:N", title=None, sort=alt.EncodingSortField("started_at", op="min")),
            color=alt.Color("status:N", scale=STATUS_COLORS, legend=alt.Legend(orient="bottom")),
            tooltip=["node", "task_id", "status", "duration", "error"],
        )
        .properties(height=max(120, 36 * frame["node"].nunique()))
    )


def runs_over_time(rows: list[dict[str, Any]]) -> alt.Chart:
    """Stacked bars of runs per hour or day by status; a click selects a bar (bucket and status)."""
    pick = alt.selection_point(name="pick", fields=["bucket", "status"], on="click")
    return (
        alt.Chart(pd.DataFrame(rows))
        .mark_bar()
        .encode(
            x=alt.X("bucket:O", title=None, axis=alt.Axis(labelAngle=-45)),
            y=alt.Y("runs:Q", title="runs", stack=True),
            color=alt.Color("status:N", scale=STATUS_COLORS, legend=alt.Legend(orient="bottom")),
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.5)),
            tooltip=["bucket", "status", "runs"],
        )
        .add_params(pick)
        .properties(height=260)
    )


def histogram(rows: list[dict[str, Any]], title: str, unit: str) -> alt.Chart:
    """Bars of a histogram computed by the database: [{start, end, runs}]."""
    frame = pd.DataFrame(rows)
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("start:Q", bin="binned", title=f"{title} ({unit})"),
            x2="end:Q",
            y=alt.Y("runs:Q", title="runs"),
            tooltip=[alt.Tooltip("start:Q", format=".2f"), alt.Tooltip("end:Q", format=".2f"), "runs"],
        )
        .properties(height=220)
    )


def node_durations(tasks: list[dict[str, Any]]) -> alt.Chart:
    """Each task's duration by node, one colour per run: where do the runs spend their time?"""
    return (
        alt.Chart(pd.DataFrame(tasks))
        .mark_tick(thickness=2, size=14)
        .encode(
            x=alt.X("duration_seconds:Q", title="task duration (s)"),
            y=alt.Y("node:N", title=None),
            color=alt.Color("run:N", legend=alt.Legend(orient="bottom")),
            yOffset="run:N",
            tooltip=["run", "node", "status", alt.Tooltip("duration_seconds:Q", format=".3f")],
        )
    )


def node_counts(tasks: list[dict[str, Any]]) -> alt.Chart:
    """Tasks per node and run, grouped bars."""
    return (
        alt.Chart(pd.DataFrame(tasks))
        .mark_bar()
        .encode(
            x=alt.X("count():Q", title="tasks"),
            y=alt.Y("node:N", title=None),
            color=alt.Color("run:N", legend=alt.Legend(orient="bottom")),
            yOffset="run:N",
            tooltip=["run", "node", "count()"],
        )
    )
