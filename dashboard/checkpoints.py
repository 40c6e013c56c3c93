"""A run's checkpoint history on run detail: the table (read with LangGraph's own saver), the state
at any checkpoint, and "Fork from here" beside it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from dashboard.forking import render_fork
from dashboard.formatting import MISSING, as_utc, time_column
from dashboard.observe import render_conversation
from dashboard.state import cached_history
from orchestrator.observe.conversation import conversation
from orchestrator.operations import Orchestrator


def render_checkpoints(orch: Orchestrator, run: Mapping[str, Any]) -> None:
    """The run's checkpoints, the state at the chosen one, and a fork from it."""
    run_id = run["run_id"]
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
        state_column, fork_column = st.columns(2, gap="large")
        with state_column:
            st.markdown(f"**State at step {history[chosen]['step']}**")
            st.json(history[chosen]["values"], expanded=1)
            if turns := conversation(history[chosen]["values"]):
                with st.expander(f"As a conversation ({len(turns)} messages)"):
                    render_conversation(turns)
        with fork_column:
            render_fork(orch, run, history[chosen], key="detail_fork")
