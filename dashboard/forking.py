"""Fork a run from one of its checkpoints, on run detail: the state there as an editable JSON box,
and a button that calls the package's `fork` and links to the new run."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import streamlit as st

from dashboard.formatting import detail_link
from dashboard.looks import icon
from dashboard.state import cached_status_counts
from orchestrator.errors import InputError, OrchestratorError
from orchestrator.operations import Orchestrator
from orchestrator.validation import parse_json

# The last fork: (parent run id, "success" or "error", its sentence, the new run's id or None).
FORKED_KEY = "detail_forked"


def changed_values(before: dict[str, Any], edited: dict[str, Any]) -> dict[str, Any]:
    """The keys the person changed or added: only these go to LangGraph's update_state (a key with
    a reducer, a list that adds, would otherwise get its whole value a second time)."""
    return {k: v for k, v in edited.items() if k not in before or before[k] != v}


def _fork(orch: Orchestrator, run_id: str, point: dict[str, Any], box: str) -> None:
    try:
        edited = parse_json(st.session_state.get(box, ""), "The state")
        if not isinstance(edited, dict):
            raise InputError("The state must be a JSON object of state keys and values.")
        values = changed_values(point["values"], edited)
        new_id = orch.fork(run_id, point["checkpoint_id"], values or None)
    except OrchestratorError as exc:
        st.session_state[FORKED_KEY] = (run_id, "error", f"Fork failed: {exc}", None)
        return
    changed = f", with {', '.join(f'`{k}`' for k in values)} changed" if values else ""
    st.session_state[FORKED_KEY] = (
        run_id,
        "success",
        f"Forked from step {point['step']}{changed}: new run [`{new_id}`]({detail_link(new_id)}).",
        new_id,
    )
    cached_status_counts.clear()


def render_fork(orch: Orchestrator, run: Mapping[str, Any], point: dict[str, Any], key: str) -> None:
    """ "Fork from here" for one checkpoint of the run's history (a `checkpoint_history` entry)."""
    if orch.config.read_only:
        return
    st.markdown(f"**Fork from here** (step {point['step']})")
    st.caption(
        "A new run with this run's history up to this checkpoint, the state as edited below; "
        "the step after it runs again (answer a question anew, fix a value)."
    )
    box = f"{key}_{point['checkpoint_id']}"
    # A form: the edited state is sent with the click, never a keystroke behind it.
    with st.form(f"{box}_form", border=False, enter_to_submit=False):
        st.text_area(
            "State for the fork (JSON)",
            value=json.dumps(point["values"], indent=2, ensure_ascii=False, default=str),
            key=box,
            height=220,
            help="Only the keys you change are written (LangGraph's update_state), each exactly as "
            "you leave it: a list with a reducer is replaced, not added to.",
        )
        st.form_submit_button(
            "Fork from here",
            key=f"{key}_button",
            icon=icon("call_split"),
            type="primary",
            on_click=_fork,
            args=(orch, run["run_id"], point, box),
        )
    # Beside the button, where the person is, and kept until the next fork (the page may redraw at once).
    forked_from, kind, sentence, new_id = st.session_state.get(FORKED_KEY, (None, "", "", None))
    if forked_from == run["run_id"] and kind == "error":
        st.error(sentence, icon=icon("error"))
    elif forked_from == run["run_id"]:
        st.success(sentence, icon=icon("call_split"))
        st.page_link(
            "app_pages/run_detail.py",
            label="Open the new run",
            icon=icon("open_in_new"),
            query_params={"run_id": new_id},
        )
