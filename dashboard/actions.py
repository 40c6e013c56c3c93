"""Run actions (cancel, resume, approve, reject, re-run, delete), shared by the detail and launch pages.

Each button calls one package operation in its on_click callback, so the page that renders
after it already shows the new status; the outcome is shown as one sentence.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.looks import ACTION_ICONS, icon
from dashboard.state import cached_status_counts
from orchestrator.errors import OrchestratorError
from orchestrator.operations import Orchestrator
from orchestrator.status import Action, allowed_actions

MESSAGE_KEY = "actions_message"


def current_launcher() -> str:
    """Who launches from this browser: the logged-in user's email, else this browser's launcher id.

    The launcher id lives in the session and in the launch page's URL (`?by=…`), so reopening
    that URL after closing the tab finds the same runs again.
    """
    if st.user.get("is_logged_in", False) and st.user.get("email"):
        return str(st.user["email"])
    if "launcher" not in st.session_state:
        st.session_state["launcher"] = st.query_params.get("by") or f"browser:{uuid.uuid4().hex[:12]}"
    return st.session_state["launcher"]


def _do(label: str, call: Callable[[], Any]) -> None:
    try:
        result = call()
    except OrchestratorError as exc:
        st.session_state[MESSAGE_KEY] = ("error", f"{label} failed: {exc}")
    else:
        st.session_state[MESSAGE_KEY] = ("success", f"{label}: {result}")
    cached_status_counts.clear()  # the sidebar's counts change with the run


def show_last_message() -> None:
    kind, text = st.session_state.pop(MESSAGE_KEY, (None, None))
    if kind == "error":
        st.error(text, icon=icon("error"))
    elif kind == "success":
        st.success(text, icon=icon("check_circle"))


BUTTONS = (Action.CANCEL, Action.RESUME, Action.RERUN, Action.LAUNCH_AGAIN, Action.DELETE)


def _icon(action: Action) -> str:
    return icon(ACTION_ICONS[action])


def render_run_actions(
    orch: Orchestrator, run: Mapping[str, Any], key: str, only: tuple[Action, ...] = BUTTONS
) -> None:
    """Buttons for what applies to the run now (`allowed_actions`); cancel and delete ask first."""
    if orch.config.read_only:
        return
    run_id = run["run_id"]
    shown = [action for action in only if action in allowed_actions(run["status"])]
    if not shown:
        return
    col = st.container(horizontal=True, vertical_alignment="center")
    for action in shown:
        if action == Action.CANCEL:
            with col.popover("Cancel run", icon=_icon(action)):
                st.write("Stop this run? A running run stops within a few seconds.")
                st.button(
                    "Yes, cancel it",
                    key=f"{key}_cancel",
                    on_click=_do,
                    args=("Cancel", lambda: orch.cancel(run_id)),
                )
        elif action == Action.RESUME:
            col.button(
                "Resume",
                key=f"{key}_resume",
                icon=_icon(action),
                help="Continue from the last checkpoint",
                on_click=_do,
                args=("Resume", lambda: orch.resume(run_id)),
            )
        elif action == Action.RERUN:
            col.button(
                "Re-run",
                key=f"{key}_rerun",
                icon=_icon(action),
                help="A new run with the same input",
                on_click=_do,
                args=("Re-run queued as", lambda: orch.rerun(run_id)),
            )
        elif action == Action.LAUNCH_AGAIN:
            col.page_link(
                "pages/launch.py",
                label="Launch again…",
                icon=_icon(action),
                help="Open the launch form filled with this run's input",
                query_params={"from_run": run_id},
            )
        elif action == Action.DELETE:
            with col.popover("Delete run", icon=_icon(action)):
                st.write("Delete this run, its task rows and its checkpoints? This cannot be undone.")
                st.button(
                    "Yes, delete it",
                    key=f"{key}_delete",
                    type="primary",
                    on_click=_do,
                    args=("Delete", lambda: "deleted" if orch.delete(run_id) else "nothing to delete"),
                )


def edited_plan(plan: list[Any], edits: dict[str, Any] | None) -> list[str]:
    """The plan after the data editor's edits (its session state: edited, added, deleted rows)."""
    edits = edits or {}
    rows = [str(task) for task in plan]
    for index, change in (edits.get("edited_rows") or {}).items():
        if "task" in change and int(index) < len(rows):
            rows[int(index)] = change["task"] or ""
    deleted = {int(i) for i in edits.get("deleted_rows") or []}
    rows = [task for i, task in enumerate(rows) if i not in deleted]
    rows += [added.get("task") or "" for added in edits.get("added_rows") or []]
    return [task.strip() for task in rows if task and task.strip()]


def _answer(plan: list[Any] | None, editor_key: str) -> Any:
    return None if plan is None else edited_plan(plan, st.session_state.get(editor_key))


def render_approval(orch: Orchestrator, run: Mapping[str, Any], key: str) -> None:
    """For a run awaiting input: the pending question, an editable plan, Approve and Reject."""
    pending = orch.pending_interrupts(run["run_id"])
    if not pending or orch.config.read_only:
        return
    run_id = run["run_id"]
    with st.container(border=True):
        st.subheader(f"{icon('front_hand')} Waiting for approval")
        value = pending[0]["value"]
        plan = value.get("plan") if isinstance(value, dict) else None
        if isinstance(plan, list) and len(pending) == 1:
            st.caption("Edit the plan: change, add or remove tasks, then approve.")
            st.data_editor(
                pd.DataFrame({"task": [str(t) for t in plan]}),
                num_rows="dynamic",
                key=f"{key}_plan",
                column_config={"task": st.column_config.TextColumn("Task", required=True, width="large")},
                hide_index=True,
            )
            st.caption(f"{len(edited_plan(plan, st.session_state.get(f'{key}_plan')))} tasks will run.")
        else:
            st.json(pending)
            plan = None
        st.text_input("Reason (for a rejection)", key=f"{key}_reason")
        left, right = st.columns(2)
        left.button(
            "Approve",
            type="primary",
            key=f"{key}_approve",
            icon=_icon(Action.APPROVE),
            on_click=_do,
            # Read the editor and the reason when clicked: the click may arrive with the last edit.
            args=("Approve", lambda: orch.approve(run_id, _answer(plan, f"{key}_plan"))),
        )
        right.button(
            "Reject",
            key=f"{key}_reject",
            icon=_icon(Action.REJECT),
            on_click=_do,
            args=("Reject", lambda: orch.reject(run_id, st.session_state.get(f"{key}_reason", ""))),
        )
