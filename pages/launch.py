"""Launch: start ad-hoc runs from a form drawn from the workflow's input, and watch them live."""

import hashlib
import json
import time

import streamlit as st

from dashboard.actions import current_launcher, show_last_message
from dashboard.formatting import detail_link
from dashboard.input_form import collect_input, render_input_form
from dashboard.live import render_live_runs
from dashboard.state import require_orchestrator
from orchestrator.errors import InputError, OrchestratorError

# A second submit of the same form within this many seconds is a double click, not a new launch.
DOUBLE_CLICK_SECONDS = 3.0

orch = require_orchestrator()
st.title("Launch a run")
if orch.config.read_only:
    st.info("This dashboard is read-only: launching is off.", icon="🔒")
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
if source and source["workflow"] in names:
    st.session_state.setdefault("launch_workflow", source["workflow"])
workflow = st.selectbox("Workflow", names, key="launch_workflow")
for name, message in broken.items():
    st.error(f"**{name}** cannot be launched: {message}", icon="🧩")
spec = orch.registry.get(workflow)
if spec.description:
    st.caption(spec.description)
start = dict(source["input"] or {}) if source and source["workflow"] == workflow else {}
if source and start:
    st.info(f"Inputs filled from run `{source['run_id']}`.", icon="🔁")

form_key = f"launch_{workflow}_{source_id or 'new'}"
errors = (
    st.session_state.get("launch_errors", {}) if st.session_state.get("launch_errors_for") == form_key else {}
)
with st.form(form_key, enter_to_submit=False):
    values = render_input_form(spec, start, errors, key=form_key)
    tags_text = st.text_input(
        "Tags (comma-separated)",
        value=", ".join(source["tags"] or []) if source else "",
        key=f"{form_key}_tags",
    )
    copies = st.number_input(
        "Copies",
        value=1,
        step=1,
        key=f"{form_key}_copies",
        help="Launch this many identical runs (load and flakiness checks), 1 to 100.",
    )
    if "copies" in errors:
        st.error("Copies must be between 1 and 100.", icon="⚠️")
    submitted = st.form_submit_button("Launch", type="primary", icon="🚀")

if submitted:
    data, parse_errors = collect_input(values)
    tags = [t.strip() for t in tags_text.split(",") if t.strip()]
    fingerprint = hashlib.sha256(json.dumps([workflow, data, tags, copies], default=str).encode()).hexdigest()
    last = st.session_state.get("launch_last", ("", 0.0))
    if last[0] == fingerprint and time.monotonic() - last[1] < DOUBLE_CLICK_SECONDS:
        pass  # the same form sent twice by a double click: queued once already
    elif parse_errors:
        st.session_state["launch_errors"] = parse_errors
        st.session_state["launch_errors_for"] = form_key
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
            st.session_state["launch_queued"] = ids
        st.session_state["launch_errors_for"] = form_key
        st.rerun()

if failed := st.session_state.pop("launch_failed", None):
    st.error(failed, icon="⚠️")
if queued := st.session_state.pop("launch_queued", None):
    links = ", ".join(f"[`{run_id}`]({detail_link(run_id)})" for run_id in queued)
    st.success(f"Queued {len(queued)} run{'s' * (len(queued) > 1)}: {links}", icon="✅")

st.subheader("Your runs")
render_live_runs(orch, launcher, key="launch_live")
