"""Run detail: one run's metadata, tasks, state, checkpoint history and actions."""

from collections.abc import Mapping
from typing import Any

import streamlit as st

from dashboard.actions import render_approval, render_run_actions, show_last_message
from dashboard.charts import task_timeline
from dashboard.formatting import MISSING, as_utc, duration_text, status_column, time_column, time_text
from dashboard.looks import status_label
from dashboard.state import cached_history, require_orchestrator
from orchestrator.status import ACTIVE

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
    cols = st.columns(5)
    cols[0].metric("Duration", duration_text(run["duration_seconds"]))
    cols[1].metric("Tasks", run["tasks_total"])
    cols[2].metric("Completed", run["tasks_completed"])
    cols[3].metric("Failed", run["tasks_failed"])
    cols[4].metric("Worker", (run["worker"] or MISSING).split(":")[0])
    if run["tasks_total"]:
        st.progress(
            run["tasks_completed"] / run["tasks_total"],
            text=f"{run['tasks_completed']} of {run['tasks_total']} tasks completed",
        )
    st.caption(
        f"Created {time_text(run['created_at'])} · started {time_text(run['started_at'])} · "
        f"finished {time_text(run['finished_at'])}"
        + (f" · tags: {', '.join(f'`{tag}`' for tag in run['tags'])}" if run["tags"] else "")
        + (f" · re-run of `{run['rerun_of']}`" if run["rerun_of"] else "")
    )
    if run["error"]:
        first, _, rest = run["error"].partition("\n")
        st.error(first)
        if rest.strip():
            with st.expander("Traceback"):
                st.code(rest.strip(), language="text")
    if st.session_state.get("detail_last_status") != run["status"] and run["status"] not in ACTIVE:
        st.rerun(scope="app")  # finished while refreshing: redraw the whole page once


live_header()
render_approval(orch, run, key="detail")
render_run_actions(orch, run, key="detail")


def wait_seconds(task: Mapping[str, Any]) -> float | None:
    """How long the task waited for a concurrency slot, when that was recorded."""
    if task.get("wait_seconds") is not None:
        return task["wait_seconds"]
    if task.get("work_started_at"):
        return (task["work_started_at"] - task["started_at"]).total_seconds()
    return None


tab_tasks, tab_state, tab_history = st.tabs(["Tasks", "Input and state", "Checkpoints"])
with tab_tasks:
    tasks = orch.store.get_tasks(run_id)
    if tasks:
        st.altair_chart(task_timeline(tasks, run["started_at"]), key="detail_timeline")
        st.caption(
            "A lane per task, grouped by node: lanes side by side ran at the same time. "
            "Hover a bar for the task's times and error."
        )
        st.dataframe(
            [
                {
                    "node": t["node"],
                    "status": [t["status"]],
                    "started_at": t.get("work_started_at") or t["started_at"],
                    "duration_seconds": t["duration_seconds"],
                    "wait_seconds": wait_seconds(t),
                    "error": (t["error"] or "").split("\n", 1)[0] or None,
                    "task_id": str(t["task_id"])[:8],
                }
                for t in tasks
            ],
            column_config={
                "node": st.column_config.TextColumn("Node"),
                "status": status_column(),
                "started_at": time_column("Started"),
                "duration_seconds": st.column_config.NumberColumn("Took", format="%.3f s"),
                "wait_seconds": st.column_config.NumberColumn("Waited for a slot", format="%.3f s"),
                "error": st.column_config.TextColumn("Error", width="medium"),
                "task_id": st.column_config.TextColumn("Task", help="The task's id (its first 8 characters)"),
            },
            hide_index=True,
            placeholder=MISSING,
            key="detail_tasks",
        )
    else:
        st.caption("No tasks recorded yet.")
with tab_state:
    left, right = st.columns(2)
    left.markdown("**Input**")
    left.json(run["input"] or {}, expanded=2)
    right.markdown("**State snapshot** (final, or latest)")
    right.json(run["state_snapshot"] or {}, expanded=1)
with tab_history:
    history = cached_history(run_id, (run["status"], run["tasks_total"], run["tasks_completed"]))
    if not history:
        st.caption("No checkpoints: the run has not started yet.")
    else:
        st.dataframe(
            [
                {
                    "step": h["step"],
                    "source": h["source"],
                    "written by": ", ".join(h["writers"]) or None,
                    "changed": ", ".join(h["changed"]) or None,
                    "time": as_utc(h["created_at"]) if h["created_at"] else None,
                    "checkpoint": h["checkpoint_id"],
                }
                for h in history
            ],
            column_config={
                "step": st.column_config.NumberColumn("Step"),
                "source": st.column_config.TextColumn("Source"),
                "written by": st.column_config.TextColumn("Written by"),
                "changed": st.column_config.TextColumn("Changed"),
                "time": time_column("Time"),
                "checkpoint": st.column_config.TextColumn("Checkpoint id"),
            },
            hide_index=True,
            placeholder=MISSING,
            key="detail_history",
        )
        labels = [f"step {h['step']} · {h['source']} · {', '.join(h['writers']) or MISSING}" for h in history]
        chosen = st.selectbox(
            "State at checkpoint",
            range(len(history)),
            index=len(history) - 1,
            format_func=labels.__getitem__,
            key="detail_checkpoint",
        )
        st.json(history[chosen]["values"], expanded=1)
