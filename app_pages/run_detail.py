"""Run detail: one run's metadata, its graph coloured live by its tasks, the answers it waits for,
its tasks, input, config and state, its checkpoint history (fork from any checkpoint), its note
and tags (who changed what), its logs, model calls and conversation, and actions."""

import streamlit as st

from dashboard.actions import render_run_actions, show_last_message
from dashboard.charts import metric_series, task_timeline, timeline_caption, worked
from dashboard.checkpoints import render_checkpoints
from dashboard.formatting import (
    MISSING,
    detail_link,
    duration_text,
    status_column,
    time_column,
    time_text,
    times_line,
)
from dashboard.graph import render_graph
from dashboard.interrupts import render_interrupts
from dashboard.looks import icon, status_label
from dashboard.observe import (
    render_conversation,
    render_log_filters,
    render_logs,
    render_model_calls,
    render_task_io,
    usage_line,
)
from dashboard.run_notes import render_run_notes
from dashboard.state import require_orchestrator
from orchestrator.observe.conversation import conversation
from orchestrator.progress import run_progress
from orchestrator.status import ACTIVE, RunStatus

# What changes by itself; a run that comes to rest (a question, an end) redraws the whole page.
MOVING = (RunStatus.QUEUED, RunStatus.RUNNING)

orch = require_orchestrator()
st.title("Run detail")
if "detail_run_id" not in st.session_state or st.query_params.get("run_id"):
    st.session_state["detail_run_id"] = st.query_params.get("run_id", "")
run_id = st.text_input("Run id", key="detail_run_id", placeholder="paste a run id").strip()
if not run_id:
    st.info("Open a run from the Runs page, or paste its id above.")
    st.stop()
st.query_params["run_id"] = run_id
show_last_message()
run = orch.store.get_run(run_id)
if run is None:
    st.warning(f"No run has the id `{run_id}`. It may have been deleted; check the id on the Runs page.")
    st.stop()
# Set on every full run, so only a refresh of the header alone sees the status change.
st.session_state["detail_last_status"] = run["status"]


@st.fragment(run_every=2 if run["status"] in ACTIVE else None)
def live_header() -> None:
    run = orch.store.get_run(run_id)
    if run is None:
        st.rerun(scope="app")
        return
    st.subheader(f"{status_label(run['status'])} · {run['workflow']}")
    cols = st.columns(6)
    cols[0].metric("Work time", duration_text(run["work_seconds"]), help="Its attempts' running time")
    cols[1].metric(
        "Wall time", duration_text(run["wall_seconds"]), help="First start to last finish, waits included"
    )
    cols[2].metric("Tasks", run["tasks_total"])
    cols[3].metric("Completed", run["tasks_completed"])
    cols[4].metric("Failed", run["tasks_failed"])
    cols[5].metric("Worker", (run["worker"] or MISSING).split(":")[0])
    st.caption(times_line(run))
    st.caption(usage_line(run))
    progress = run_progress(run)
    if progress.fraction is not None:
        st.progress(progress.fraction, text=progress.text)
    elif run["tasks_total"]:
        st.caption(progress.text)
    st.caption(
        f"Created {time_text(run['created_at'])} · started {time_text(run['started_at'])} · "
        f"finished {time_text(run['finished_at'])}"
        + (f" · tags: {', '.join(f'`{tag}`' for tag in run['tags'])}" if run["tags"] else "")
        + (f" · re-run of `{run['rerun_of']}`" if run["rerun_of"] else "")
        + (f" · preset **{run['preset']}**" if run["preset"] else "")
    )
    if run["parent_run_id"]:
        st.markdown(
            f"{icon('call_split')} Forked from run [`{run['parent_run_id']}`]({detail_link(run['parent_run_id'])}) "
            f"at step {run['parent_step'] if run['parent_step'] is not None else MISSING} "
            f"(checkpoint `{run['parent_checkpoint_id']}`)."
        )
    if run["config"]:
        st.markdown("Config: " + ", ".join(f"`{k}` = `{v}`" for k, v in run["config"].items()))
    if reason := orch.waiting_reason(run):
        st.warning(reason, icon=icon("hourglass_empty"))
    render_graph(run["workflow"], orch.store.node_counts(run_id), "LR")
    st.caption("Each node coloured by this run's tasks, with their counts.")
    if run["error"] and run["status"] == RunStatus.CANCELLED:
        st.info(run["error"], icon=icon("block"))  # why it was cancelled: not an error
    elif run["error"]:
        first, _, rest = run["error"].partition("\n")
        st.error(first)
        if rest.strip():
            with st.expander("Traceback"):
                st.code(rest.strip(), language="text")
    if st.session_state.get("detail_last_status") != run["status"] and run["status"] not in MOVING:
        st.rerun(scope="app")  # came to rest while refreshing (a question, an end): redraw the page once


live_header()
render_interrupts(orch, run, key="detail")
if run["status"] == RunStatus.FAILED:
    st.caption(
        f"{icon('call_split')} To correct this run (a wrong answer, a bad value in its state), fork it from a "
        "checkpoint before the failure: Checkpoints tab, Fork from here. Resume replays the same answer."
    )
render_run_actions(orch, run, key="detail")


(tab_tasks, tab_logs, tab_models, tab_chat, tab_state, tab_metrics, tab_history, tab_notes) = st.tabs(
    ["Tasks", "Logs", "Model calls", "Conversation", "Input and state", "Metrics", "Checkpoints", "Note and tags"]
)


@st.fragment(run_every=2 if run["status"] in ACTIVE else None)
def live_tasks() -> None:
    """The tasks' timeline and table, refreshed with the header while the run goes."""
    tasks = orch.store.get_tasks(run_id)
    if any(worked(t) for t in tasks):
        st.altair_chart(task_timeline(tasks), key="detail_timeline")
    if tasks:
        st.caption(timeline_caption(tasks))
        st.dataframe(
            [
                {
                    "node": t["node"],
                    "status": [t["status"]],
                    "started_at": t["started_at"],
                    "work_seconds": t["work_seconds"],
                    "wait_seconds": t["wait_seconds"],
                    "error": (t["error"] or "").split("\n", 1)[0] or None,
                    "task_id": str(t["task_id"])[:8],
                }
                for t in tasks
            ],
            column_config={
                "node": st.column_config.TextColumn("Node"),
                "status": status_column(),
                "started_at": time_column("Scheduled"),
                "work_seconds": st.column_config.NumberColumn(
                    "Worked", format="%.3f s", help="From when its work began to its end"
                ),
                "wait_seconds": st.column_config.NumberColumn(
                    "Waited for a slot",
                    format="%.3f s",
                    help="From when it was scheduled to when its work began",
                ),
                "error": st.column_config.TextColumn("Error", width="medium"),
                "task_id": st.column_config.TextColumn("Task", help="The task's id (its first 8 characters)"),
            },
            hide_index=True,
            placeholder=MISSING,
            key="detail_tasks",
        )
    else:
        st.caption("No tasks recorded yet.")


with tab_tasks:
    live_tasks()


@st.fragment(run_every=2 if run["status"] in ACTIVE else None)
def live_logs() -> None:
    """A task's (or every task's) newest log lines, filtered by level and text, tailed while the run goes."""
    task_id, min_level, text = render_log_filters(orch, run_id, orch.store.get_tasks(run_id))
    if task_id:
        render_task_io(orch, run_id, task_id)
    render_logs(orch, run_id, task_id, min_level, text)


with tab_logs:
    live_logs()
with tab_models:
    render_model_calls(orch, run)
with tab_chat:
    turns = conversation(run["state_snapshot"])
    if turns:
        st.caption(
            "The `messages` of the run's final (or latest) state; the Checkpoints tab shows them at any checkpoint."
        )
        render_conversation(turns)
    else:
        st.caption("This run's state holds no messages.")
with tab_state:
    left, right = st.columns(2)
    left.markdown("**Input**")
    left.json(run["input"] or {}, expanded=2)
    left.markdown("**Config** (the run's `configurable` keys)")
    left.json(run["config"] or {}, expanded=2)
    right.markdown("**State snapshot** (final, or latest)")
    right.json(run["state_snapshot"] or {}, expanded=1)
with tab_metrics:
    # What its nodes recorded with orchestrator.record_metric: the latest values, and each series.
    series = orch.store.metric_series(run_id)
    if not series:
        st.caption("No metrics recorded: a node records one with `orchestrator.record_metric(name, value)`.")
    else:
        st.dataframe(
            [
                {"metric": name, "latest": points[-1]["value"], "steps": len(points)}
                for name, points in series.items()
            ],
            hide_index=True,
            key="detail_metrics",
        )
        several = {name: points for name, points in series.items() if len(points) > 1}
        if several:
            st.altair_chart(metric_series(several), key="detail_metric_series")
with tab_history:
    render_checkpoints(orch, run)
with tab_notes:
    render_run_notes(orch, run)
