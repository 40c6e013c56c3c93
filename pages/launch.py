"""Launch: start ad-hoc runs from a form drawn from the workflow's input, and watch them live."""

import hashlib
import json
import time

import streamlit as st

from dashboard.actions import current_launcher, show_last_message
from dashboard.formatting import detail_link
from dashboard.input_form import collect_input, render_input_form
from dashboard.live import render_live_runs
from dashboard.looks import icon
from dashboard.state import cached_status_counts, require_orchestrator
from orchestrator.errors import InputError, OrchestratorError
from orchestrator.operations import MAX_COPIES

# A second submit of the same form within this many seconds is a double click, not a new launch.
DOUBLE_CLICK_SECONDS = 3.0

orch = require_orchestrator()
st.title("Launch a run")
if orch.config.read_only:
    st.info("This dashboard is read-only: launching is off.", icon=icon("lock"))
    st.stop()
launcher = current_launcher()
if launcher.startswith("browser:"):
    st.query_params["by"] = launcher
show_last_message()

source_id = st.query_params.get("from_run", "")
source = orch.store.get_run(source_id) if source_id else None
if source_id and source is None:
    st.warning(f"No run has the id `{source_id}`; starting from the defaults instead.")
names = orch.registry.names()
broken = orch.registry.errors()
if source and source["workflow"] in names and st.session_state.get("launch_from") != source_id:
    st.session_state["launch_workflow"] = source["workflow"]  # a new "launch again": its workflow
st.session_state["launch_from"] = source_id
workflow = st.selectbox("Workflow", names, key="launch_workflow")
for name, message in broken.items():
    st.error(f"**{name}** cannot be launched: {message}", icon=icon("extension_off"))
spec = orch.registry.get(workflow)
if spec.description:
    st.caption(spec.description)
start = dict(source["input"] or {}) if source and source["workflow"] == workflow else {}
if source and start:
    st.info(f"Inputs filled from run `{source['run_id']}`.", icon=icon("edit_note"))

form_key = f"launch_{workflow}_{source_id or 'new'}"
errors = (
    st.session_state.get("launch_errors", {}) if st.session_state.get("launch_errors_for") == form_key else {}
)
with st.form(form_key, enter_to_submit=False):
    values = render_input_form(spec, start, errors, key=form_key)
    tags_column, copies_column = st.columns([2, 1])
    tags_text = tags_column.text_input(
        "Tags (comma-separated)",
        value=", ".join(source["tags"] or []) if source else "",
        key=f"{form_key}_tags",
    )
    with copies_column:
        copies = st.number_input(
            "Copies",
            value=1,
            step=1,
            key=f"{form_key}_copies",
            help=f"Launch this many identical runs (load and flakiness checks), 1 to {MAX_COPIES}.",
        )
        if "copies" in errors:
            st.error(f"Copies must be between 1 and {MAX_COPIES}.", icon=icon("error"))
    submitted = st.form_submit_button("Launch", type="primary", icon=icon("rocket_launch"))


def problems(data: dict, parse_errors: dict[str, str], copies: int) -> tuple[dict[str, str], str | None]:
    """Every field's error at once (JSON that does not parse, the workflow's checks, the copies),
    and an error that belongs to no field."""
    found, general = dict(parse_errors), None
    try:
        spec.validate_input(data)
    except InputError as exc:
        found = {**exc.field_errors, **found}
        general = None if exc.field_errors or found else str(exc)
    if not 1 <= copies <= MAX_COPIES:
        found["copies"] = "out of range"
    return found, general


if submitted:
    data, parse_errors = collect_input(values)
    tags = [t.strip() for t in tags_text.split(",") if t.strip()]
    fingerprint = hashlib.sha256(json.dumps([workflow, data, tags, copies], default=str).encode()).hexdigest()
    last = st.session_state.get("launch_last", ("", 0.0))
    st.session_state["launch_errors_for"] = form_key
    if last[0] == fingerprint and time.monotonic() - last[1] < DOUBLE_CLICK_SECONDS:
        pass  # the same form sent twice by a double click: queued once already
    elif any(found := problems(data, parse_errors, int(copies or 0))):
        st.session_state["launch_errors"], general = found
        if general:
            st.session_state["launch_failed"] = general
        st.session_state["launch_queued"] = None
        st.rerun()
    else:
        try:
            ids = orch.launch_copies(workflow, data, tags, int(copies or 0), launched_by=launcher)
        except InputError as exc:
            st.session_state["launch_errors"] = exc.field_errors
            if not exc.field_errors:
                st.session_state["launch_failed"] = str(exc)
        except OrchestratorError as exc:
            st.session_state["launch_errors"] = {}
            st.session_state["launch_failed"] = str(exc)
        else:
            st.session_state["launch_errors"] = {}
            st.session_state["launch_last"] = (fingerprint, time.monotonic())
            # Kept until the next launch: the run may well be over before anyone reads it.
            st.session_state["launch_queued"] = ids
            cached_status_counts.clear()
        st.rerun()

if failed := st.session_state.pop("launch_failed", None):
    st.error(failed, icon=icon("error"))
if queued := st.session_state.get("launch_queued"):
    links = ", ".join(f"[`{run_id}`]({detail_link(run_id)})" for run_id in queued)
    st.success(f"Queued {len(queued)} run{'s' * (len(queued) > 1)}: {links}", icon=icon("check_circle"))

st.subheader("Your runs")
render_live_runs(orch, launcher, key="launch_live")
