"""Altair charts built from the package's plain rows.

Every chart is drawn as SVG (small data sets; crisp at any zoom, and its marks can be counted
in a browser test) and colours statuses from `dashboard.looks`, as the tables do.
"""

from __future__ import annotations

import datetime as dt
import heapq
import json
from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt
import pandas as pd

from dashboard.looks import RUN_COLORS, status_colors
from orchestrator.status import TaskStatus

# A node never gets more lanes than this: beyond it, its lanes are shared (bars may overlap).
MAX_LANES = 32
LANE_PX = 22
MAX_TIMELINE_PX = 560
SVG = {"embedOptions": {"renderer": "svg"}}
SVG_MARKS = 2000  # more marks than this are drawn on a canvas, which stays fast


def finish(chart: alt.Chart, height: int | None = None, *, svg: bool = True) -> alt.Chart:
    """Drawn as SVG (else on a canvas, for thousands of marks); the width fits the page, and
    `height` is the plot's own, legend and axes around it (Streamlit's default "fit" squeezes a
    short chart's plot to nothing)."""
    props: dict[str, Any] = {"autosize": alt.AutoSizeParams(type="fit-x", contains="padding")}
    if svg:
        props["usermeta"] = SVG
    if height is not None:
        props["height"] = height
    return chart.properties(**props)


def status_scale() -> alt.Scale:
    statuses, colors = status_colors()
    return alt.Scale(domain=statuses, range=colors)


def status_color(shown: Sequence[str]) -> alt.Color:
    """Colour by status (the same colours everywhere); the legend lists the statuses `shown`."""
    statuses = [status for status in status_colors()[0] if status in set(shown)]
    return alt.Color(
        "status:N",
        scale=status_scale(),
        # "awaiting input", not the stored "awaiting_input"
        legend=alt.Legend(orient="top", title=None, values=statuses, labelExpr="replace(datum.label, '_', ' ')"),
    )


# -- a run's task timeline ----------------------------------------------------------------------


def _seconds(later: dt.datetime, earlier: dt.datetime) -> float:
    return (later - earlier).total_seconds()


def worked(task: Mapping[str, Any]) -> bool:
    """Whether a task did any work to draw: not one still waiting for a slot, nor one cancelled
    before its work began."""
    return task["status"] != TaskStatus.WAITING and not (
        task["status"] == TaskStatus.CANCELLED and task.get("work_started_at") is None
    )


def timeline_caption(tasks: Sequence[Mapping[str, Any]]) -> str:
    """What the timeline draws, and the tasks it leaves out (their waits are not work)."""
    waiting = sum(t["status"] == TaskStatus.WAITING for t in tasks)
    never = sum(t["status"] == TaskStatus.CANCELLED and t.get("work_started_at") is None for t in tasks)
    waited = sum(bool(t.get("wait_seconds")) for t in tasks if worked(t))
    parts = ["A bar per task's work, grouped by node: bars side by side worked at the same time"]
    if waited:
        parts.append(f"{waited} waited for a slot first (not drawn; hover for how long)")
    if waiting:
        parts.append(f"{waiting} waiting for a slot now (not drawn)")
    if never:
        parts.append(f"{never} cancelled before their work began (not drawn)")
    return "; ".join(parts) + "."


def timeline_frame(tasks: Sequence[Mapping[str, Any]], origin: dt.datetime | None = None) -> pd.DataFrame:
    """One row per task that worked: seconds from `origin` (the first task's start, the same
    worker's clock as the tasks') to its work's start and end, and its lane.

    A task's bar is its work: from when its work began (`work_started_at`, after a wait for a
    concurrency slot; else its start) to its end (or now, while it works). Its wait is not drawn,
    and a task that never began its work (waiting, or cancelled first) has no bar. Tasks of one
    node are packed into as few lanes as never overlap, so the lanes of a node show how many of
    its tasks worked at once; nodes are grouped in the order they first worked.
    """
    now = dt.datetime.now(dt.UTC)
    drawn = [t for t in tasks if worked(t)]
    origin = origin or min((t["started_at"] for t in tasks), default=now)
    rows = []
    for t in drawn:
        work_start = t.get("work_started_at") or t["started_at"]
        end = t["finished_at"] or now
        rows.append(
            {
                "node": t["node"],
                "task": str(t["task_id"])[:8],
                "status": t["status"],
                "start": max(0.0, _seconds(work_start, origin)),
                "end": max(0.0, _seconds(end, origin)),
                "took": t.get("work_seconds"),
                "waited": t.get("wait_seconds") or None,
                "error": (t.get("error") or "").split("\n", 1)[0] or None,
            }
        )
    if not rows:
        return pd.DataFrame(
            columns=["node", "task", "status", "start", "end", "took", "waited", "error", "lane", "row"]
        )
    frame = pd.DataFrame(rows).sort_values(["start", "end"], kind="stable").reset_index(drop=True)
    frame["lane"], frame["row"] = _lanes(frame)
    return frame


def _lanes(frame: pd.DataFrame) -> tuple[list[int], list[int]]:
    """Each task's lane within its node, and its row in the chart (the nodes' lanes one after another)."""
    order = list(dict.fromkeys(frame["node"]))  # nodes by first start (the frame is sorted by start)
    lane_of: list[int] = [0] * len(frame)
    lanes_used: dict[str, int] = {}
    free: dict[str, list[tuple[float, int]]] = {node: [] for node in order}
    for i, (node, start, end) in enumerate(zip(frame["node"], frame["start"], frame["end"], strict=True)):
        heap = free[node]
        if heap and heap[0][0] <= start:
            _, lane = heapq.heappop(heap)
        else:
            lane = lanes_used.get(node, 0)
            lanes_used[node] = lane + 1
        heapq.heappush(heap, (end, lane))
        lane_of[i] = lane % MAX_LANES  # past the cap, lanes are shared (bars may overlap)
    first_row, row = {}, 0
    for node in order:
        first_row[node] = row
        row += min(lanes_used.get(node, 1), MAX_LANES)
    rows = [first_row[node] + lane for node, lane in zip(frame["node"], lane_of, strict=True)]
    return lane_of, rows


def task_timeline(tasks: Sequence[Mapping[str, Any]], origin: dt.datetime | None = None) -> alt.Chart:
    """A lane per task's work (packed), grouped by node; x: seconds since its first task started;
    colour: status. Give it tasks of which at least one worked (`worked`)."""
    frame = timeline_frame(tasks, origin)
    span = max(float(frame["end"].max()), 1e-3)
    # Every bar at least ~2 px wide, so a task of a millisecond in a run of minutes is still seen.
    frame["shown_end"] = frame["end"].clip(lower=frame["start"] + span / 400)
    rows = int(frame["row"].max()) + 1
    # Each node's name beside the middle one of its lanes.
    middle = frame.groupby("node", sort=False)["row"].agg(lambda r: (r.min() + r.max()) // 2)
    label_expr = (
        "".join(f"datum.value == {row} ? {json.dumps(node)} : " for node, row in middle.items()) + "''"
    )
    chart = (
        alt.Chart(frame)
        .mark_bar(cornerRadius=2, clip=True)
        .encode(
            x=alt.X(
                "start:Q",
                title="seconds since its first task started",
                scale=alt.Scale(domain=[0, span]),
                axis=alt.Axis(tickCount=8, labelOverlap="greedy"),
            ),
            x2="shown_end:Q",
            y=alt.Y(
                "row:O",
                title=None,
                scale=alt.Scale(domain=list(range(rows)), paddingInner=0.25),
                axis=alt.Axis(labelExpr=label_expr, ticks=False, domain=False, labelFontSize=12),
            ),
            color=status_color(frame["status"].unique()),
            tooltip=[
                alt.Tooltip("node:N"),
                alt.Tooltip("task:N"),
                alt.Tooltip("status:N"),
                alt.Tooltip("start:Q", title="work began (s)", format=".3f"),
                alt.Tooltip("took:Q", title="worked (s)", format=".3f"),
                alt.Tooltip("waited:Q", title="waited for a slot (s)", format=".3f"),
                alt.Tooltip("error:N"),
            ],
        )
    )
    height = min(MAX_TIMELINE_PX, max(3, rows) * LANE_PX)
    return finish(chart, height=height, svg=len(frame) <= SVG_MARKS)


# -- the overview -------------------------------------------------------------------------------


def _utc(moment: dt.datetime) -> alt.DateTime:
    return alt.DateTime(
        year=moment.year,
        month=moment.month,
        date=moment.day,
        hours=moment.hour,
        minutes=moment.minute,
        utc=True,
    )


def bucket_axis(start: dt.datetime, end: dt.datetime, bucket: dt.timedelta) -> alt.X:
    """The time axis of bars per bucket (an hour or a day): every bucket the period touches, whole."""
    hourly = bucket < dt.timedelta(days=1)
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    first = start - (start - epoch) % bucket
    last = end - (end - epoch) % bucket + (bucket if (end - epoch) % bucket else dt.timedelta())
    return alt.X(
        "from:T",
        timeUnit="utcyearmonthdatehours" if hourly else "utcyearmonthdate",
        title=None,
        scale=alt.Scale(domain=[_utc(first), _utc(last)]),
        axis=alt.Axis(format="%H:%M" if hourly else "%b %d", labelAngle=0, grid=False),
    )


def runs_over_time(
    rows: list[dict[str, Any]], start: dt.datetime, end: dt.datetime, bucket: dt.timedelta
) -> alt.Chart:
    """Stacked bars of runs per bucket (an hour or a day, UTC) by status, over the whole period,
    empty buckets included; a click selects a bar (its bucket and status)."""
    frame = pd.DataFrame(rows, columns=["bucket", "status", "runs"])
    frame["from"] = pd.to_datetime(frame["bucket"], utc=True)
    pick = alt.selection_point(name="pick", fields=["bucket", "status"], on="click")
    chart = (
        alt.Chart(frame)
        .mark_bar(clip=True)
        .encode(
            x=bucket_axis(start, end, bucket),
            y=alt.Y("runs:Q", title="runs", stack=True),
            color=status_color(frame["status"].unique()),
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.5)),
            tooltip=[
                alt.Tooltip("bucket:N", title="from (UTC)"),
                alt.Tooltip("status:N"),
                alt.Tooltip("runs:Q"),
            ],
        )
        .add_params(pick)
    )
    return finish(chart, height=240)


def usage_over_time(
    rows: list[dict[str, Any]],
    measure: str,
    title: str,
    start: dt.datetime,
    end: dt.datetime,
    bucket: dt.timedelta,
) -> alt.Chart:
    """Stacked bars of a model-call figure (`cost_usd`, `tokens`) per bucket by workflow, over the
    whole period (orchestrator.observe.usage's rows)."""
    frame = pd.DataFrame(rows, columns=["bucket", "workflow", measure])
    frame["from"] = pd.to_datetime(frame["bucket"], utc=True)
    chart = (
        alt.Chart(frame)
        .mark_bar(clip=True)
        .encode(
            x=bucket_axis(start, end, bucket),
            y=alt.Y(f"{measure}:Q", title=title, stack=True),
            color=alt.Color("workflow:N", title="workflow"),
            tooltip=[
                alt.Tooltip("bucket:N", title="from (UTC)"),
                alt.Tooltip("workflow:N"),
                alt.Tooltip(f"{measure}:Q", title=title, format=",.6f" if measure == "cost_usd" else ","),
            ],
        )
    )
    return finish(chart, height=200)


# A duration axis's ticks (seconds) and their labels ("500 ms", "10 s", "1 min", "2 h").
DURATION_TICKS = (
    0, 0.001, 0.01, 0.1, 1, 10, 60, 600, 3600, 36000, 86400,
)
DURATION_LABEL = (
    "datum.value == 0 ? '0' : datum.value < 1 ? format(datum.value * 1000, '~g') + ' ms' "
    ": datum.value < 60 ? format(datum.value, '~g') + ' s' "
    ": datum.value < 3600 ? format(datum.value / 60, '~g') + ' min' "
    ": datum.value < 86400 ? format(datum.value / 3600, '~g') + ' h' : format(datum.value / 86400, '~g') + ' d'"
)


def histogram(rows: list[dict[str, Any]], title: str, unit: str) -> alt.Chart:
    """Bars of a histogram from the rollup: [{start, end, runs}] (not empty), on round bounds
    that widen with the value (1, 2, 5 ... per decade). The axis is logarithmic from the first
    bar's width on (symlog), so every bar is as wide as the decade share it covers, and ticks sit
    on the bounds that are 1, 2 or 5 times a power of ten."""
    frame = pd.DataFrame(rows, columns=["start", "end", "runs"])
    bounds = sorted({*frame["start"], *frame["end"]})
    if unit == "s":  # durations: ticks a person reads (10 s, 1 min, 1 h), labelled as every page writes them
        ticks = [t for t in DURATION_TICKS if bounds[0] <= t <= bounds[-1]]
        axis = alt.Axis(values=ticks, labelExpr=DURATION_LABEL, grid=False)
        axis_title = title
    else:
        ticks = [b for b in bounds if b == 0 or (f"{b:.0e}"[0] in "125" and float(f"{b:.0e}") == b)]
        axis = alt.Axis(values=ticks, format=",d" if unit == "count" else "~g", grid=False)
        axis_title = f"{title} ({unit})" if unit != "count" else title
    chart = (
        alt.Chart(frame)
        .mark_bar(color="#1e6fd9")
        .encode(
            x=alt.X(
                "start:Q",
                bin="binned",
                title=axis_title,
                # The domain is the bars' own span: the last bar is drawn whole, not cut at its start.
                scale=alt.Scale(
                    type="symlog",
                    constant=max(float(frame["end"].iloc[0]), 1e-3),
                    domain=[bounds[0], bounds[-1]],
                    nice=False,
                ),
                axis=axis,
            ),
            x2="end:Q",
            y=alt.Y("runs:Q", title="runs"),
            tooltip=[
                alt.Tooltip("start:Q", title="from", format="~g"),
                alt.Tooltip("end:Q", title="to (not included)", format="~g"),
                alt.Tooltip("runs:Q"),
            ],
        )
    )
    return finish(chart, height=200)


# -- compare ------------------------------------------------------------------------------------


def run_color(names: Sequence[str]) -> alt.Color:
    """One colour per run (in the order given: the same in every chart) from `RUN_COLORS`, never a
    status's colour."""
    return alt.Color(
        "run:N",
        scale=alt.Scale(domain=names, range=[RUN_COLORS[i % len(RUN_COLORS)] for i in range(len(names))]),
        legend=alt.Legend(orient="top", title=None),
    )


def node_durations(tasks: list[dict[str, Any]], runs: Sequence[str]) -> alt.Chart:
    """Each task's work time by node, one colour per run: where do the runs spend their time?
    (Its wait for a slot is not work; a task that never began its work has no time.)"""
    frame = pd.DataFrame([t for t in tasks if t.get("work_seconds") is not None])
    chart = (
        alt.Chart(frame)
        .mark_tick(thickness=2, size=14)
        .encode(
            x=alt.X("work_seconds:Q", title="task work time (s)"),
            y=alt.Y("node:N", title=None),
            color=run_color(runs),
            yOffset="run:N",
            tooltip=[
                "run",
                "node",
                "status",
                alt.Tooltip("work_seconds:Q", title="worked (s)", format=".3f"),
            ],
        )
    )
    return finish(chart)


def node_counts(tasks: list[dict[str, Any]], runs: Sequence[str]) -> alt.Chart:
    """Tasks per node and run, grouped bars."""
    chart = (
        alt.Chart(pd.DataFrame(tasks))
        .mark_bar()
        .encode(
            x=alt.X("count():Q", title="tasks"),
            y=alt.Y("node:N", title=None),
            color=run_color(runs),
            yOffset="run:N",
            tooltip=["run", "node", "count()"],
        )
    )
    return finish(chart)


def metric_series(series: Mapping[str, Sequence[Mapping[str, Any]]]) -> alt.Chart:
    """A run's metrics over their steps: a line per metric recorded at more than one step, each in
    its own panel (their scales differ), a point per value with its step and value on hover."""
    frame = pd.DataFrame(
        [
            {"metric": name, "step": p["step"], "value": p["value"]}
            for name, points in series.items()
            for p in points
        ]
    )
    chart = (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X("step:Q", title="Step", axis=alt.Axis(tickMinStep=1)),
            y=alt.Y("value:Q", title=None),
            tooltip=["metric", "step", alt.Tooltip("value:Q", format=".6g")],
        )
        .properties(height=160)
        .facet(row=alt.Row("metric:N", title=None))
        .resolve_scale(y="independent")
    )
    return chart.properties(usermeta=SVG)


def metric_series_by_run(points: Sequence[Mapping[str, Any]], runs: Sequence[str]) -> alt.Chart:
    """Several runs' metrics over their steps, overlaid: a panel per metric (their scales differ),
    a line per run in its colour (`run_color`), a point per value with run, step and value on hover."""
    chart = (
        alt.Chart(pd.DataFrame(list(points)))
        .mark_line(point=True)
        .encode(
            x=alt.X("step:Q", title="Step", axis=alt.Axis(tickMinStep=1)),
            y=alt.Y("value:Q", title=None),
            color=run_color(runs),
            tooltip=["run", "metric", "step", alt.Tooltip("value:Q", format=".6g")],
        )
        .properties(height=160)
        .facet(row=alt.Row("metric:N", title=None))
        .resolve_scale(y="independent")
    )
    return chart.properties(usermeta=SVG)
