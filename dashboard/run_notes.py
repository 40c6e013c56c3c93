"""Run detail's "Note and tags": the note (markdown) and tags, a form to change them, and who
changed what and when (orchestrator.run_notes decides and stores)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from dashboard.actions import current_launcher
from dashboard.formatting import MISSING, time_column
from dashboard.looks import icon
from orchestrator import run_notes
from orchestrator.errors import OrchestratorError
from orchestrator.operations import Orchestrator

MESSAGE_KEY = "detail_notes_message"


def _shown(value: Any) -> str:
    if value is None or value == []:
        return MISSING
    return ", ".join(value) if isinstance(value, list) else str(value)


def _save(orch: Orchestrator, run_id: str) -> None:
    """The form's callback: tags, then the note, each recorded only if it changed."""
    by = current_launcher()
    try:
        run_notes.set_tags(orch, run_id, st.session_state["detail_tags"], by=by)
        run_notes.set_note(orch, run_id, st.session_state["detail_note"], by=by)
    except OrchestratorError as exc:
        st.session_state[MESSAGE_KEY] = ("error", str(exc))
    else:
        st.session_state[MESSAGE_KEY] = ("success", "Saved the tags and the note.")


def render_run_notes(orch: Orchestrator, run: Mapping[str, Any]) -> None:
    """The note and tags of `run`; a form to change them unless the dashboard is read-only."""
    run_id = run["run_id"]
    kind, text = st.session_state.pop(MESSAGE_KEY, (None, None))
    if kind == "error":
        st.error(text, icon=icon("error"))
    elif kind:
        st.success(text, icon=icon("check_circle"))
    if run["note"]:
        with st.container(border=True):
            st.markdown(run["note"])
    else:
        st.caption("No note yet.")
    if not orch.config.read_only:
        # The widgets start from the stored values each time the run is shown anew.
        if st.session_state.get("detail_notes_for") != (run_id, run["tags"], run["note"]):
            st.session_state["detail_notes_for"] = (run_id, run["tags"], run["note"])
            st.session_state["detail_tags"] = list(run["tags"] or [])
            st.session_state["detail_note"] = run["note"] or ""
        with st.form("detail_notes_form", border=True):
            st.multiselect(
                "Tags",
                sorted(set(run["tags"] or [])),
                key="detail_tags",
                accept_new_options=True,
                placeholder="Type a tag and press Enter",
            )
            st.text_area(
                "Note (markdown)",
                key="detail_note",
                height=150,
                max_chars=run_notes.MAX_NOTE_CHARS,
                placeholder="What was learnt from this run, links, next steps…",
            )
            st.form_submit_button("Save", icon=icon("save"), on_click=_save, args=(orch, run_id))
    edits = run_notes.edits(orch, run_id)
    if edits:
        st.markdown("**Changes**")
        st.dataframe(
            [
                {"at": e["at"], "by": e["by"], "field": e["field"], "old": _shown(e["old"]), "new": _shown(e["new"])}
                for e in edits
            ],
            column_config={
                "at": time_column("When"),
                "by": st.column_config.TextColumn("By"),
                "field": st.column_config.TextColumn("Changed"),
                "old": st.column_config.TextColumn("From", width="medium"),
                "new": st.column_config.TextColumn("To", width="medium"),
            },
            hide_index=True,
            placeholder=MISSING,
            key="detail_edits",
        )
