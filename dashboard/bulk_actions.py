"""The runs page's bulk actions: the selected runs, or every run matching the filters, cancelled,
resumed, re-run, deleted or tagged after a confirmation that says how many and which are skipped.

The package decides (orchestrator.bulk: one operation per run, the status table's rules); this
renders the choice, the dry run's sentence, and the outcome's.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard.actions import current_launcher
from dashboard.looks import ACTION_ICONS, icon
from dashboard.state import cached_status_counts
from orchestrator import bulk
from orchestrator.errors import OrchestratorError
from orchestrator.operations import Orchestrator
from orchestrator.run_queries import RunFilter
from orchestrator.status import Action

SELECTED, MATCHING = "selected", "matching"
PLAN_KEY, MESSAGE_KEY = "runs_bulk_plan", "runs_bulk_message"


def render_bulk_actions(orch: Orchestrator, chosen: list[str], filters: RunFilter) -> None:
    """The bulk actions bar (none in read-only mode); a plan to confirm once reviewed."""
    if orch.config.read_only:
        return
    kind, text = st.session_state.pop(MESSAGE_KEY, (None, None))
    if kind == "error":
        st.error(text, icon=icon("error"))
    elif kind:
        st.success(text, icon=icon("check_circle"))
    asked = _choose(orch, chosen, filters)
    plan = st.session_state.get(PLAN_KEY)
    if plan is not None and plan["asked"] != asked:
        plan = st.session_state[PLAN_KEY] = None  # the choice or the filters changed: review again
    if plan is not None:
        _confirm(orch, plan)


def _choose(orch: Orchestrator, chosen: list[str], filters: RunFilter) -> tuple[Any, ...]:
    """The scope and action widgets and the Review button; what is asked, as a comparable value."""
    bar = st.container(horizontal=True, vertical_alignment="bottom")
    scope = bar.radio(
        "Bulk action on",
        [SELECTED, MATCHING],
        format_func=lambda s: f"Selected runs ({len(chosen)})" if s == SELECTED else "All runs matching the filters",
        horizontal=True,
        key="runs_bulk_scope",
    )
    action = bar.selectbox(
        "Action",
        list(bulk.BULK_ACTIONS),
        format_func=lambda a: bulk.verb(a).capitalize(),
        key="runs_bulk_action",
        width=160,
    )
    tags: dict[str, Any] = {}
    if action == Action.TAG:
        add = bar.text_input("Add tags", key="runs_bulk_add", placeholder="comma-separated")
        remove = bar.text_input("Remove tags", key="runs_bulk_remove", placeholder="comma-separated")
        tags = {"add_tags": _tag_list(add), "remove_tags": _tag_list(remove)}
    asked = (scope, action, tuple(chosen) if scope == SELECTED else filters, repr(tags))
    empty = scope == SELECTED and not chosen
    if bar.button("Review…", key="runs_bulk_review", disabled=empty, icon=icon(ACTION_ICONS[action])):
        targets: list[str] | RunFilter = list(chosen) if scope == SELECTED else filters
        try:
            outcome = bulk.apply(orch, action, targets, dry_run=True, **tags)
        except OrchestratorError as exc:
            st.session_state[MESSAGE_KEY] = ("error", str(exc))
        else:
            st.session_state[PLAN_KEY] = {
                "action": action,
                "run_ids": outcome.found,  # skipped ones too: the outcome counts them again
                "asked": asked,
                "sentence": outcome.sentence(),
                "count": outcome.done_total,
                "tags": tags,
            }
        st.rerun()
    return asked


def _tag_list(text: str) -> list[str]:
    return [tag.strip() for tag in text.split(",") if tag.strip()]


def _confirm(orch: Orchestrator, plan: dict[str, Any]) -> None:
    action: Action = plan["action"]
    st.warning(plan["sentence"], icon=icon("warning"))
    bar = st.container(horizontal=True)
    label = f"Yes, {bulk.verb(action)} {plan['count']:,} run" + ("" if plan["count"] == 1 else "s")
    if bar.button(label, key="runs_bulk_confirm", type="primary", disabled=not plan["count"]):
        bar_slot = st.empty()

        def progress(done: int, of: int) -> None:
            if done % 10 == 0 or done == of:
                bar_slot.progress(done / of, text=f"{bulk.verb(action).capitalize()}: run {done:,} of {of:,}")

        try:
            outcome = bulk.apply(
                orch, action, plan["run_ids"], by=current_launcher(), progress=progress, **plan["tags"]
            )
        except OrchestratorError as exc:
            st.session_state[MESSAGE_KEY] = ("error", str(exc))
        else:
            st.session_state[MESSAGE_KEY] = ("success", outcome.sentence())
        st.session_state[PLAN_KEY] = None
        cached_status_counts.clear()
        st.rerun()  # the whole page: the table, its count and the sidebar's counts change
    if bar.button("Back", key="runs_bulk_back"):
        st.session_state[PLAN_KEY] = None
        st.rerun()
