"""Overview: runs, success, durations and tasks over a period, against the period before it."""

import datetime as dt

import streamlit as st

from dashboard import charts
from dashboard.formatting import (
    MISSING,
    detail_link,
    duration_text,
    percent_text,
    period_text,
    time_column,
    time_text,
)
from dashboard.looks import icon
from dashboard.state import cached_overview, require_orchestrator
from dashboard.url_state import Param, load_from_url, save_to_url, unread_sentence
from orchestrator.metrics import Period
from orchestrator.observe.figures import COST_FORMAT, cost_text
from orchestrator.observe.usage import MAX_CALLS

# The runs' durations the figures and the histogram show: work time, or wall time one click away.
MEASURES = {
    "work": {
        "short": "work time",
        "help": "Of the finished runs: their attempts' running time, without waiting for a person, "
        "in the queue or between attempts.",
    },
    "wall": {
        "short": "wall time",
        "help": "Of the finished runs: first start to last finish, with every wait.",
    },
}
# The period's choices: URL value -> (label, length); "custom" is a range of days.
PERIODS = {
    "24h": ("Last 24 h", dt.timedelta(days=1)),
    "7d": ("Last 7 days", dt.timedelta(days=7)),
    "30d": ("Last 30 days", dt.timedelta(days=30)),
}
CHOICES = (*PERIODS, "custom")
# The overview's choices live in the URL, so a reload or a shared link shows the same view.
PARAMS = [
    Param("overview_period", "period", "str", "7d", CHOICES),
    Param("overview_custom", "days", "date_range", ()),
    Param("overview_workflows", "workflow", "list", []),
    Param("overview_wall", "wall", "bool", False),
]
URL_MARKER = "overview_url"

orch = require_orchestrator()
st.title("Overview")
if unread := load_from_url(PARAMS, URL_MARKER):
    st.error(unread_sentence(unread), icon=icon("link_off"))
names = orch.store.workflow_names()
st.session_state["overview_workflows"] = [w for w in st.session_state["overview_workflows"] if w in names]
now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
if len(st.session_state.get("overview_custom") or ()) == 0:
    st.session_state["overview_custom"] = (now.date() - dt.timedelta(days=7), now.date())
left, right = st.columns(2)
choice = left.segmented_control(
    "Period", CHOICES, key="overview_period", format_func=lambda c: PERIODS[c][0] if c in PERIODS else "Custom"
)
workflows = right.multiselect("Workflows", names, key="overview_workflows")
if choice == "custom":
    chosen_days = left.date_input("From – to (UTC)", key="overview_custom")
    days = chosen_days if isinstance(chosen_days, tuple) else (chosen_days,)
    if len(days) != 2:
        save_to_url(PARAMS, URL_MARKER)
        st.info("Choose the last day of the range too.")
        st.stop()
    start = dt.datetime.combine(days[0], dt.time(), tzinfo=dt.UTC)
    end = dt.datetime.combine(days[1], dt.time(), tzinfo=dt.UTC) + dt.timedelta(days=1)
else:
    start, end = now - PERIODS[choice or "7d"][1], now
period = Period(start, end)
data = cached_overview(start, end, tuple(workflows))
st.caption(f"{time_text(start)} – {time_text(end)}, compared with the previous {period_text(period.length)}.")


def runs_link(**params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items() if v)
    return f"./?{query}&created={start.date()}..{(end - dt.timedelta(microseconds=1)).date()}"


current, change = data["figures"]["current"], data["figures"]["change"]


def delta(value: float | None, text: str | None = None) -> float | str | None:
    """A change as the metric's delta; none for no change (0 → 0 is not a green "↑ +0.00")."""
    if value is None or value == 0:
        return None
    return value if text is None else text.format(value)


# Two rows of four: eight in a row cut a million runs' figures to "28,6…".
cols = [*st.columns(4), *st.columns(4)]
cols[0].metric("Runs", f"{current['runs']:,}", delta(change["runs"]))
cols[1].metric(
    "Success rate", percent_text(current["success_rate"]), delta(change["success_rate"], "{:+.1%}")
)
cols[2].metric("Failures", current["failed"], delta(change["failed"]), delta_color="inverse")
measure = "wall" if st.session_state.get("overview_wall") else "work"
if choice != "custom":
    st.session_state["overview_custom"] = ()  # a custom range only in the URL of a custom view
save_to_url(PARAMS, URL_MARKER)
what = MEASURES[measure]
for col, p in ((cols[3], "p50"), (cols[4], "p95")):
    key = f"{p}_{measure}_seconds"
    col.metric(
        f"{'Median' if p == 'p50' else 'p95'} {what['short']}",
        duration_text(current[key]),
        delta(change[key], "{:+.1f} s"),
        delta_color="inverse",
        help=what["help"],
    )
cols[5].metric("Tasks completed", f"{current['tasks_completed']:,}", delta(change["tasks_completed"]))
cols[6].metric(
    "Tasks failed", f"{current['tasks_failed']:,}", delta(change["tasks_failed"]), delta_color="inverse"
)
cols[7].metric(
    "Tasks / minute",
    MISSING if current["tasks_per_minute"] is None else f"{current['tasks_per_minute']:.2f}",
    delta(change["tasks_per_minute"], "{:+.2f}"),
)

if not current["runs"]:
    st.info("No runs in this period.")
    st.stop()

st.subheader("Runs over time")
event = st.altair_chart(
    charts.runs_over_time(data["over_time"], start, end, period.bucket),
    on_select="rerun",
    key="overview_time",
)
picked = (event.selection.get("pick") or [None])[0] if event and event.selection else None
if picked:
    day = picked["bucket"][:10]
    st.switch_page("app_pages/runs.py", query_params={"status": picked["status"], "created": f"{day}..{day}"})
st.caption("Click a bar to open those runs.")

left, right = st.columns(2)
with left:
    st.subheader(what["short"].capitalize(), help=what["help"])
    st.toggle("Wall time instead of work time", key="overview_wall")
    if data["durations"][measure]:
        st.altair_chart(
            charts.histogram(data["durations"][measure], what["short"], "s"), key="overview_durations"
        )
    else:
        st.caption("No run of this period has finished yet.")
with right:
    st.subheader("Tasks per run")
    if data["task_counts"]:
        st.altair_chart(charts.histogram(data["task_counts"], "tasks", "count"), key="overview_tasks")
    else:
        st.caption("No run of this period has recorded a task yet.")

st.subheader("By workflow")
DURATIONS = ("p50_work_seconds", "p95_work_seconds", "p50_wall_seconds", "p95_wall_seconds")
st.dataframe(
    [
        {
            **row,
            **{key: duration_text(row[key]) for key in DURATIONS},  # as in the headline: "1 min 38 s"
            "success_rate": percent_text(row["success_rate"]),
            "open": runs_link(workflow=row["workflow"]),
        }
        for row in data["per_workflow"]
    ],
    column_config={
        "workflow": st.column_config.TextColumn("Workflow"),
        "runs": st.column_config.NumberColumn("Runs"),
        "succeeded": st.column_config.NumberColumn("Succeeded"),
        "failed": st.column_config.NumberColumn("Failed"),
        "open": st.column_config.LinkColumn("Runs", display_text="open runs"),
        "success_rate": st.column_config.TextColumn("Success"),
        "p50_work_seconds": st.column_config.TextColumn("p50 work", help=MEASURES["work"]["help"]),
        "p95_work_seconds": st.column_config.TextColumn("p95 work"),
        "p50_wall_seconds": st.column_config.TextColumn("p50 wall", help=MEASURES["wall"]["help"]),
        "p95_wall_seconds": st.column_config.TextColumn("p95 wall"),
        "tasks_completed": st.column_config.NumberColumn("Tasks completed"),
        "tasks_failed": st.column_config.NumberColumn("Tasks failed"),
        "tasks_per_minute": st.column_config.NumberColumn("Tasks/min", format="%.2f"),
    },
    hide_index=True,
    key="overview_workflows_table",
)
nodes = [
    {
        **n,
        "failure_rate": percent_text(n["failure_rate"]),
        "mean_seconds": duration_text(n["mean_seconds"]),
        "p95_seconds": duration_text(n["p95_seconds"]),
    }
    for n in data["nodes"]
]
left, right = st.columns(2)
node_columns = {
    "node": st.column_config.TextColumn("Node"),
    "tasks": st.column_config.NumberColumn("Tasks"),
    "failed": st.column_config.NumberColumn("Failed"),
    "failure_rate": st.column_config.TextColumn("Failure rate"),
    "mean_seconds": st.column_config.TextColumn("Mean work"),
    "p95_seconds": st.column_config.TextColumn("p95 work"),
}
with left:
    st.subheader(
        "Slowest nodes",
        help="Over the tasks started in the whole UTC hours this period touches. A task's time is its "
        "work, from when its work began to its end: its wait for a concurrency slot is not in it.",
    )
    st.dataframe(nodes[:10], column_config=node_columns, hide_index=True, key="overview_slow")
with right:
    st.subheader("Most failing nodes")
    failing = sorted((n for n in nodes if n["failed"]), key=lambda n: (-n["failed"], n["node"]))[:10]
    st.dataframe(failing, column_config=node_columns, hide_index=True, key="overview_failing")

usage = data["usage"]
st.subheader(
    "Model calls",
    help="What the model calls of this period's runs add up to (by the day a run was created, as above): "
    "tokens are input + output tokens, cost is from the configured prices (ORCHESTRATOR_MODEL_PRICES).",
)
if not usage["over_time"]:
    st.caption("No run of this period made a model call.")
else:
    totals = st.columns(3)
    totals[0].metric("Model calls", f"{usage['totals']['model_calls']:,}")
    totals[1].metric("Tokens", f"{usage['totals']['tokens']:,}")
    totals[2].metric("Cost", cost_text(usage["totals"]["cost_usd"]))
    left, right = st.columns(2)
    unit = "hour" if period.bucket_unit == "hour" else "day"
    left.altair_chart(
        charts.usage_over_time(
            usage["over_time"], "cost_usd", f"cost per {unit} ($)", start, end, period.bucket
        ),
        key="overview_cost",
    )
    right.altair_chart(
        charts.usage_over_time(
            usage["over_time"], "tokens", f"tokens per {unit}", start, end, period.bucket
        ),
        key="overview_tokens",
    )
    usage_columns = {
        "model_calls": st.column_config.NumberColumn("Calls", format="%d"),
        "tokens": st.column_config.NumberColumn("Tokens", format="%d"),
        "cost_usd": st.column_config.NumberColumn("Cost", format=COST_FORMAT),
    }
    left, right = st.columns(2)
    with left:
        st.subheader("Most expensive runs")
        st.dataframe(
            [{**r, "run_id": detail_link(r["run_id"])} for r in usage["runs"]],
            column_config={
                "run_id": st.column_config.LinkColumn("Run", display_text=r"run_id=(.{12}).*$"),
                "workflow": st.column_config.TextColumn("Workflow"),
                "created_at": time_column("Created"),
                **usage_columns,
            },
            hide_index=True,
            key="overview_expensive_runs",
        )
    with right:
        st.subheader(
            "Most expensive nodes",
            help=f"Of the period's latest {MAX_CALLS:,} model calls, by when each call started.",
        )
        st.dataframe(
            usage["nodes"],
            column_config={
                "workflow": st.column_config.TextColumn("Workflow"),
                "node": st.column_config.TextColumn("Node"),
                **usage_columns,
            },
            hide_index=True,
            key="overview_expensive_nodes",
        )
        if usage["nodes_cut"]:
            st.caption(f"Of the latest {MAX_CALLS:,} model calls of this period only.")
