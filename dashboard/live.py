"""The live view: runs someone launched, refreshed in place while any of them is going.

The runs come from the database (by `launched_by`), not from session state, so closing the
tab loses nothing: the runs go on, and the view finds them again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from dashboard.actions import render_run_actions, show_failures
from dashboard.formatting import detail_link, duration_text
from dashboard.interrupts import render_interrupts
from dashboard.looks import icon, status_bar, status_label, status_word
from orchestrator.errors import InputError
from orchestrator.operations import Orchestrator
from orchestrator.progress import run_progress
from orchestrator.rows import RunRow
from orchestrator.run_queries import RunFilter
from orchestrator.status import Action, RunStatus

CARD_ACTIONS = (Action.CANCEL, Action.RESUME, Action.LAUNCH_AGAIN)
# What changes by itself: queued and running runs (a waiting run waits for a person).
MOVING = frozenset({RunStatus.QUEUED, RunStatus.RUNNING})

SHOWN = 10


def _elapsed(run: RunRow) -> str:
    """Its work and wall time as the store gives them (so far, while it goes)."""
    if run["wall_seconds"] is None:
        return "not started"
    return f"worked {duration_text(run['work_seconds'])} of {duration_text(run['wall_seconds'])}"


def _events(tasks: Sequence[Mapping[str, Any]]) -> str:
    return " · ".join(f"`{t['node']}` {status_word(t['status'])}" for t in tasks) or "no tasks yet"


def render_run_card(orch: Orchestrator, run: RunRow, tasks: Sequence[Mapping[str, Any]], key: str) -> None:
    """One run: status, progress of tasks, failures, elapsed time, latest task events, actions."""
    with st.container(border=True):
        head, link = st.columns([4, 1])
        head.markdown(f"**{status_label(run['status'])}** · {run['workflow']} · `{run['run_id']}`")
        link.markdown(f"[open]({detail_link(run['run_id'])})")
        progress = run_progress(run)
        text = f"{progress.text} · {run['tasks_failed']} failed · {_elapsed(run)}"
        if progress.fraction is not None:
            st.markdown(status_bar(progress.fraction, run["status"]), unsafe_allow_html=True)
        st.caption(text)
        if run["error"]:  # why it ended: a failure's first line; a cancel's reason is no error
            first = run["error"].partition("\n")[0]
            if run["status"] == RunStatus.FAILED:
                st.error(first, icon=icon("error"))
            else:
                st.caption(f"{icon('info')} {first}")
        st.caption(f"Latest: {_events(tasks)}")
        if reason := orch.waiting_reason(run):
            st.warning(reason, icon=icon("hourglass_empty"))
        if run["status"] == RunStatus.AWAITING_INPUT:
            render_interrupts(orch, run, key=f"{key}_{run['run_id']}")
        else:
            show_failures(f"{key}_{run['run_id']}")  # an answer sent as the run moved on
        render_run_actions(orch, run, key=f"{key}_{run['run_id']}", only=CARD_ACTIONS)


def render_live_runs(orch: Orchestrator, launched_by: str, key: str) -> None:
    """The latest runs `launched_by` started, refreshing every 2 s while one of them is moving.

    A run waiting for approval does not move until someone answers: its card is left alone
    (no refresh while a person edits its plan).
    """
    try:
        runs = orch.store.query_runs(RunFilter(launched_by=launched_by), limit=SHOWN).rows
    except InputError as exc:  # a launcher the package refuses: its sentence, not a traceback
        st.error(str(exc), icon=icon("error"))
        return
    moving = any(r["status"] in MOVING for r in runs)

    @st.fragment(run_every=2 if moving else None)
    def live() -> None:
        rows = orch.store.get_runs([r["run_id"] for r in runs])
        if not rows:
            st.caption("Runs you launch appear here, and stay here after you close the tab.")
            return
        tasks = orch.store.latest_tasks([r["run_id"] for r in rows])
        for run in rows:
            render_run_card(orch, run, tasks.get(run["run_id"], []), key)
        if moving != any(r["status"] in MOVING for r in rows):
            st.rerun(scope="app")  # started or stopped moving: refresh, or stop refreshing

    live()
