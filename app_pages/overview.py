"""Overview: runs, success, durations and tasks over a period, against the period before it."""

import datetime as dt

import streamlit as st

from dashboard import charts
from dashboard.formatting import duration_text, period_text, time_text
from dashboard.state import cached_overview, require_orchestrator
from orchestrator.metrics import Period

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
PERIODS = {
    "Last 24 h": dt.timedelta(days=1),
    "Last 7 days": dt.timedelta(days=7),
    "Last 30 days": dt.timedelta(days=30),
}

orch = require_orchestrator()
st.title("Overview")
left, right = st.columns(2)
choice = left.segmented_control("Period", [*PERIODS, "Custom"], default="Last 7 days", key="overview_period")
workflows = right.multiselect("Workflows", orch.store.workflow_names(), key="overview_workflows")
now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
if choice == "Custom":
    days = left.date_input(
        "From – to (UTC)", value=(now.date() - dt.timedelta(days=7), now.date()), key="overview_custom"
    )
    if len(days) != 2:
        st.info("Choose the last day of the range too.")
        st.stop()
    start = dt.datetime.combine(days[0], dt.time(), tzinfo=dt.UTC)
    end = dt.datetime.combine(days[1], dt.time(), tzinfo=dt.UTC) + dt.timedelta(days=1)
else:
    start, end = now - PERIODS[choice or "Last 7 days"], now
period = Period(start, end)
data = cached_overview(start, end, tuple(workflows))
st.caption(f"{time_text(start)} – {time_text(end)}, compared with the previous {period_text(period.length)}.")


def runs_link(**params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items() if v)
    return f"./?{query}&created={start.date()}..{(end - dt.timedelta(microseconds=1)).date()}"


current, change = data["figures"]["current"], data["figures"]["change"]
# Two rows of four: eight in a row cut a million runs' figures to "28,6…".
cols = [*st.columns(4), *st.columns(4)]
cols[0].metric("Runs", f"{current['runs']:,}", change["runs"])
rate = current["success_rate"]
cols[1].metric(
    "Success rate",
    "–" if rate is None else f"{rate:.1%}",
    None if change["success_rate"] is None else f"{change['success_rate']:+.1%}",
)
cols[2].metric("Failures", current["failed"], change["failed"], delta_color="inverse")
measure = "wall" if st.session_state.get("overview_wall") else "work"
what = MEASURES[measure]
for col, p in ((cols[3], "p50"), (cols[4], "p95")):
    key = f"{p}_{measure}_seconds"
    col.metric(
        f"{'Median' if p == 'p50' else 'p95'} {what['short']}",
        duration_text(current[key]),
        None if change[key] is None else f"{change[key]:+.1f} s",
        delta_color="inverse",
        help=what["help"],
    )
cols[5].metric("Tasks completed", f"{current['tasks_completed']:,}", change["tasks_completed"])
cols[6].metric("Tasks failed", f"{current['tasks_failed']:,}", change["tasks_failed"], delta_color="inverse")
cols[7].metric("Tasks / minute", f"{current['tasks_per_minute']:.2f}", f"{change['tasks_per_minute']:+.2f}")

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
st.dataframe(
    [{**row, "open": runs_link(workflow=row["workflow"])} for row in data["per_workflow"]],
    column_config={
        "open": st.column_config.LinkColumn("Runs", display_text="open runs"),
        "success_rate": st.column_config.NumberColumn("Success", format="percent"),
        "p50_work_seconds": st.column_config.NumberColumn(
            "p50 work", format="%.2f s", help=MEASURES["work"]["help"]
        ),
        "p95_work_seconds": st.column_config.NumberColumn("p95 work", format="%.2f s"),
        "p50_wall_seconds": st.column_config.NumberColumn(
            "p50 wall", format="%.2f s", help=MEASURES["wall"]["help"]
        ),
        "p95_wall_seconds": st.column_config.NumberColumn("p95 wall", format="%.2f s"),
        "tasks_per_minute": st.column_config.NumberColumn("Tasks/min", format="%.2f"),
    },
    hide_index=True,
    key="overview_workflows_table",
)
nodes = data["nodes"]
left, right = st.columns(2)
node_columns = {
    "failure_rate": st.column_config.NumberColumn("Failure rate", format="percent"),
    "mean_seconds": st.column_config.NumberColumn("Mean work", format="%.3f s"),
    "p95_seconds": st.column_config.NumberColumn("p95 work", format="%.3f s"),
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
