"""Run actions (cancel, resume, re-run, launch again, delete), shared by the detail and launch pages.

Each button calls one package operation in its on_click callback, so the page that renders
after it already shows the new status; the outcome is shown as one sentence.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import streamlit as st

from dashboard.formatting import detail_link
from dashboard.looks import ACTION_ICONS, icon
from dashboard.state import cached_status_counts
from orchestrator.errors import OrchestratorError
from orchestrator.operations import Orchestrator
from orchestrator.status import Action, RunStatus, allowed_actions

MESSAGE_KEY = "actions_message"


# A launcher id this dashboard makes (`browser:` and a random hex), or one a link carries.
LAUNCHER_ID = re.compile(r"browser:[A-Za-z0-9_-]{1,64}")
BAD_LAUNCHER_KEY = "launcher_from_link_refused"
BAD_LAUNCHER = (
    "This link's launcher id (`by`) is not one this dashboard makes (browser: and at most 64 letters, "
    "digits, - or _), so the runs you launch here get a new one."
)


# The browser's cookie that keeps its launcher id (remember_launcher), a year.
LAUNCHER_COOKIE = "orchestrator_launcher"
COOKIE_SECONDS = 365 * 24 * 3600


def kept_launcher() -> str | None:
    """The launcher id this browser's cookie keeps, if any (a page test has no real browser, and
    its context's cookies are no mapping of strings)."""
    kept = st.context.cookies.get(LAUNCHER_COOKIE)
    return kept if isinstance(kept, str) else None


def current_launcher() -> str:
    """Who launches (and answers) from this browser: the logged-in user's email, else this
    browser's launcher id.

    The launcher id lives in the session, in the launch page's URL (`?by=…`) and in a cookie of
    this browser (remember_launcher), so reopening /launch, with or without that URL, in a new
    tab or after a restart, finds the same runs again. The URL's id wins over the cookie's. A
    `by` that is not such an id (an email, a CLI user, NUL, 100,000 characters) is not taken:
    the session gets the cookie's id or a new one, and `BAD_LAUNCHER_KEY` is set for the page to
    say so.
    """
    if st.user.get("is_logged_in", False) and st.user.get("email"):
        return str(st.user["email"])
    if "launcher" not in st.session_state:
        by = st.query_params.get("by")
        if by and not LAUNCHER_ID.fullmatch(by):
            st.session_state[BAD_LAUNCHER_KEY] = True
            by = None
        if not by:
            kept = kept_launcher()
            by = kept if kept and LAUNCHER_ID.fullmatch(kept) else None
        st.session_state["launcher"] = by or f"browser:{uuid.uuid4().hex[:12]}"
    return st.session_state["launcher"]


def said_cancel(result: Any) -> str:
    if result == RunStatus.RUNNING:
        return "Cancellation requested: the run stops within a heartbeat."
    return "Cancelled: the run stopped and will not continue."


def said_resume(result: Any) -> str:
    return "Resumed: the run is queued and continues from its last checkpoint."


def said_rerun(result: Any) -> str:
    return f"Re-run queued as run [`{result}`]({detail_link(str(result))}), with the same input."


def said_delete(result: Any) -> str:
    if result:
        return "Deleted: the run, its task rows and its checkpoints are gone."
    return "Nothing to delete: the run was already gone."


def said_answer(result: Any) -> str:
    """What an answer did: the run goes on (queued), or a rejection ended it (cancelled)."""
    if result == RunStatus.CANCELLED:
        return "Rejected: the run is cancelled."
    return "Answer sent: the run is queued and continues."


def remember_launcher(launcher: str) -> None:
    """Keep this browser's launcher id in a cookie, once per session where it is not there yet
    (an email or an id of another shape is never written; the id's characters need no quoting)."""
    if not LAUNCHER_ID.fullmatch(launcher) or kept_launcher() == launcher:
        return
    if st.session_state.get("launcher_remembered") == launcher:
        return
    st.session_state["launcher_remembered"] = launcher
    st.html(
        f"<script>document.cookie = '{LAUNCHER_COOKIE}={launcher}; path=/; max-age={COOKIE_SECONDS}; "
        "SameSite=Lax';</script>",
        unsafe_allow_javascript=True,
    )


def do_action(
    label: str, call: Callable[[], Any], said: Callable[[Any], str] | None = None, place: str | None = None
) -> None:
    """Call one package operation; keep one sentence for the page: what happened (`said` of the
    operation's result; an answer's by default), or "<label> failed: <why>". A failure of an action with a `place` (an
    answer box) is shown there (`show_failure(place)`), not at the top of the page."""
    try:
        result = call()
    except OrchestratorError as exc:
        key = f"{MESSAGE_KEY}_{place}" if place else MESSAGE_KEY
        st.session_state[key] = ("error", f"{label} failed: {exc}")
    else:
        st.session_state[MESSAGE_KEY] = ("success", (said or said_answer)(result))
    cached_status_counts.clear()  # the sidebar's counts change with the run


def show_last_message() -> None:
    kind, text = st.session_state.pop(MESSAGE_KEY, (None, None))
    if kind == "error":
        st.error(text, icon=icon("error"))
    elif kind == "success":
        st.success(text, icon=icon("check_circle"))


def show_failure(place: str) -> None:
    """The failure of the last action sent from `place` (see `do_action`), where it was sent."""
    kind, text = st.session_state.pop(f"{MESSAGE_KEY}_{place}", (None, None))
    if kind == "error":
        st.error(text, icon=icon("error"))


def show_failures(prefix: str) -> None:
    """The failures of actions sent from places under `prefix` whose box is no longer drawn (the
    run moved on meanwhile): shown where the box was, never lost."""
    for key in [k for k in st.session_state if str(k).startswith(f"{MESSAGE_KEY}_{prefix}")]:
        kind, text = st.session_state.pop(key)
        if kind == "error":
            st.error(text, icon=icon("error"))


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
                    on_click=do_action,
                    args=("Cancel", lambda: orch.cancel(run_id), said_cancel),
                )
        elif action == Action.RESUME:
            col.button(
                "Resume",
                key=f"{key}_resume",
                icon=_icon(action),
                help="Continue from the last checkpoint",
                on_click=do_action,
                args=("Resume", lambda: orch.resume(run_id), said_resume),
            )
        elif action == Action.RERUN:
            col.button(
                "Re-run",
                key=f"{key}_rerun",
                icon=_icon(action),
                help="A new run with the same input",
                on_click=do_action,
                args=("Re-run", lambda: orch.rerun(run_id), said_rerun),
            )
        elif action == Action.LAUNCH_AGAIN:
            col.page_link(
                "app_pages/launch.py",
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
                    on_click=do_action,
                    args=("Delete", lambda: orch.delete(run_id), said_delete),
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
