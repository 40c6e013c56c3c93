"""The runs page's plots of the filtered runs: a scatter (a line over time) of any two numbers,
coloured by status, workflow or a field; parallel coordinates of several fields; a click on a
run's point or line opens it. The values come from orchestrator.run_plots (a bounded sample read
in the database, as a page of the table is)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from dashboard.charts import finish, status_color
from dashboard.looks import RUN_COLORS, icon
from orchestrator.errors import InputError
from orchestrator.operations import Orchestrator
from orchestrator.run_plots import (
    COLOR_BY,
    RUN_AXES,
    is_time,
    parallel_points,
    plot_axis,
    plot_color,
    plot_sample,
    scatter_points,
)
from orchestrator.run_queries import RunFilter

AXIS_LABELS = {
    "created_at": "Created",
    "started_at": "Started",
    "finished_at": "Finished",
    "tasks_total": "Tasks",
    "tasks_completed": "Tasks completed",
    "tasks_failed": "Tasks failed",
    "work_seconds": "Work time (s)",
    "wall_seconds": "Wall time (s)",
    "status": "Status",
    "workflow": "Workflow",
}
MAX_PARALLEL = 8
PICK = "run"  # the charts' point selection: a click picks a run


def axis_label(name: str) -> str:
    return AXIS_LABELS.get(name, name)


def _color(points: Sequence[dict[str, Any]], color: str) -> alt.Color:
    if color == "status":
        return status_color([p["status"] for p in points])
    if color == "workflow":
        # Colours of their own, never a status's (a red workflow would read as failed).
        scale = alt.Scale(range=list(RUN_COLORS))
        return alt.Color("workflow:N", scale=scale, legend=alt.Legend(orient="top", title=None))
    numeric = all(isinstance(p["color"], int | float) or p["color"] is None for p in points)
    return alt.Color(f"color:{'Q' if numeric else 'N'}", title=color, legend=alt.Legend(orient="top"))


def scatter_chart(points: Sequence[dict[str, Any]], x: str, y: str, color: str) -> alt.Chart:
    """A point per run (a line through them in time order when x is a moment); a click picks one."""
    pick = alt.selection_point(name=PICK, fields=["run_id"], on="click")
    tooltip = [
        alt.Tooltip("run_id:N", title="run"),
        alt.Tooltip("x:T" if is_time(x) else "x:Q", title=axis_label(x)),
        alt.Tooltip("y:Q", title=axis_label(y)),
        "status:N",
        "workflow:N",
    ]
    if color not in COLOR_BY:
        tooltip.append(alt.Tooltip("color:N", title=color))
    base = alt.Chart(pd.DataFrame(list(points))).encode(
        x=alt.X("x:T" if is_time(x) else "x:Q", title=axis_label(x), scale=alt.Scale(zero=False)),
        y=alt.Y("y:Q", title=axis_label(y), scale=alt.Scale(zero=False)),
    )
    dots = (
        base.mark_circle(size=70)
        .encode(
            color=_color(points, color),
            opacity=alt.condition(pick, alt.value(0.95), alt.value(0.35)),
            tooltip=tooltip,
        )
        .add_params(pick)
    )
    chart = base.mark_line(color="#9e9e9e", strokeWidth=1) + dots if is_time(x) else dots
    return finish(chart, height=320)


def parallel_chart(points: Sequence[dict[str, Any]], fields: Sequence[str], color: str) -> alt.Chart:
    """A line per run across the fields, each field scaled from its lowest (0) to its highest (1)
    value among the runs drawn; a click on a line picks its run."""
    pick = alt.selection_point(name=PICK, fields=["run_id"], on="click")
    chart = (
        alt.Chart(pd.DataFrame(list(points)))
        .mark_line(point=True, strokeWidth=1.5)
        .encode(
            x=alt.X("field:N", sort=list(fields), title=None, axis=alt.Axis(labelAngle=0)),
            y=alt.Y(
                "position:Q", title="lowest (0) to highest (1) of each field", scale=alt.Scale(domain=[0, 1])
            ),
            detail="run_id:N",
            color=_color(points, color),
            opacity=alt.condition(pick, alt.value(0.9), alt.value(0.3)),
            tooltip=[alt.Tooltip("run_id:N", title="run"), "field:N", alt.Tooltip("value:N", title="value")],
        )
        .add_params(pick)
    )
    return finish(chart, height=300)


def _open_picked(event: Any) -> None:
    """Open the run whose point or line was clicked."""
    picked = (event.selection or {}).get(PICK) or [] if event is not None else []
    run_ids = [str(p["run_id"]) for p in picked if isinstance(p, dict) and p.get("run_id")]
    if run_ids:
        st.switch_page("app_pages/run_detail.py", query_params={"run_id": run_ids[0]})


def render_plots(
    orch: Orchestrator, filters: RunFilter, sort: str, descending: bool, offered: list[str]
) -> None:
    """The plot settings (kept in the URL with the filters) and the two plots of the filtered runs."""
    state = st.session_state
    axes = list(dict.fromkeys([*RUN_AXES, *offered, state.get("runs_plot_x"), state.get("runs_plot_y")]))
    axes = [a for a in axes if a]
    colors = list(dict.fromkeys([*COLOR_BY, *offered, state.get("runs_plot_color")]))
    settings = st.columns([2, 2, 2, 4])
    settings[0].selectbox("X", axes, key="runs_plot_x", format_func=axis_label, accept_new_options=True)
    settings[1].selectbox("Y", axes, key="runs_plot_y", format_func=axis_label, accept_new_options=True)
    settings[2].selectbox(
        "Colour by",
        [c for c in colors if c],
        key="runs_plot_color",
        format_func=axis_label,
        accept_new_options=True,
    )
    settings[3].multiselect(
        "Parallel coordinates of",
        list(dict.fromkeys([*axes, *state.get("runs_plot_fields", [])])),
        key="runs_plot_fields",
        format_func=axis_label,
        accept_new_options=True,
        max_selections=MAX_PARALLEL,
        placeholder="two fields or more, e.g. input.delay_ms, metrics.accuracy",
    )
    try:
        x, y = plot_axis(state["runs_plot_x"]), plot_axis(state["runs_plot_y"])
        color = plot_color(state["runs_plot_color"])
        fields = [plot_axis(f) for f in state.get("runs_plot_fields", [])]
    except InputError as exc:
        st.error(str(exc), icon=icon("warning"))
        return
    sample = plot_sample(orch.store, filters, [x, y, color, *fields], sort=sort, descending=descending)
    order = (
        f"the first in the table's order ({axis_label(sort)}, {'descending' if descending else 'ascending'})"
    )
    st.caption(
        f"Showing {len(sample.rows):,} of {sample.count} matching runs"
        + (f": {order}." if sample.sampled else ".")
        + " Click a run's point or line to open it."
    )
    points, left_out = scatter_points(sample.rows, x, y, color)
    if not points:
        st.info(f"None of these runs has a number for both {axis_label(x)} and {axis_label(y)}.")
    else:
        if left_out:
            st.caption(
                f"{left_out:,} runs without a number for {axis_label(x)} or {axis_label(y)} are left out."
            )
        _open_picked(
            st.altair_chart(
                scatter_chart(points, x, y, color),
                key="runs_plot_scatter",
                on_select="rerun",
                selection_mode=PICK,
            )
        )
    if len(fields) >= 2:
        lines, left_out = parallel_points(sample.rows, fields, color)
        if not lines:
            st.info("None of these runs has a number for every one of the parallel coordinates' fields.")
            return
        if left_out:
            st.caption(f"{left_out:,} runs without a number for each of these fields are left out.")
        _open_picked(
            st.altair_chart(
                parallel_chart(lines, fields, color),
                key="runs_plot_parallel",
                on_select="rerun",
                selection_mode=PICK,
            )
        )
