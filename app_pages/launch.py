"""Launch: start ad-hoc runs from a form drawn from the workflow's input and config (or a preset),
with the workflow's graph beside it, and watch them live."""

import hashlib
import json
import time

import streamlit as st

from dashboard.actions import (
    BAD_LAUNCHER,
    BAD_LAUNCHER_KEY,
    current_launcher,
    remember_launcher,
    show_last_message,
)
from dashboard.formatting import detail_link
from dashboard.graph import render_graph
from dashboard.input_form import collect_input, render_field, render_input_form, render_schema_form
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
if st.session_state.pop(BAD_LAUNCHER_KEY, False):
    st.error(BAD_LAUNCHER, icon=icon("link_off"))
if launcher.startswith("browser:"):
    st.query_params["by"] = launcher
    remember_launcher(launcher)  # /launch without ?by= finds these runs again, in a new tab too
show_last_message()

source_id = st.query_params.get("from_run", "")
source = orch.store.get_run(source_id) if source_id else None
if source_id and source is None:
    st.warning(f"No run has the id `{source_id}`; starting from the defaults instead.")
names = orch.registry.names()
broken = orch.registry.errors()
if source and source["workflow"] in names and st.session_state.get("launch_from") != source_id:
    st.session_state["launch_workflow"] = source["workflow"]  # a new "launch again": its workflow
elif "launch_workflow" not in st.session_state and st.query_params.get("workflow") in names:
    st.session_state["launch_workflow"] = st.query_params["workflow"]  # a reload keeps the choice
st.session_state["launch_from"] = source_id
form_column, graph_column = st.columns([3, 2], gap="large")
with form_column:
    workflow = st.selectbox("Workflow", names, key="launch_workflow")
st.query_params["workflow"] = workflow
spec = orch.registry.get(workflow)
with graph_column:
    st.markdown("**The graph**")
    render_graph(workflow)
for name, message in broken.items():
    form_column.error(f"**{name}** cannot be launched: {message}", icon=icon("extension_off"))
if spec.description:
    form_column.caption(spec.description)

saved = {p["name"]: p for p in orch.presets.list(workflow)}
preset_name = form_column.selectbox(
    "Preset",
    list(saved),
    index=None,
    key=f"launch_preset_{workflow}",
    placeholder="none: start from the defaults" if saved else "no presets saved for this workflow yet",
    disabled=not saved,
    help="A saved input and config; launching records the preset on the run.",
)
preset = saved.get(preset_name) if preset_name else None
start = dict(source["input"] or {}) if source and source["workflow"] == workflow else {}
start_config = dict(source["config"] or {}) if source and source["workflow"] == workflow else {}
if preset:
    start, start_config = dict(preset["input"] or {}), dict(preset["config"] or {})
    form_column.info(f"Input and config filled from preset **{preset['name']}**.", icon=icon("bookmark"))
elif source and start:
    form_column.info(f"Inputs filled from run `{source['run_id']}`.", icon=icon("edit_note"))

form_key = f"launch_{workflow}_{source_id or 'new'}" + (f"_preset_{preset['name']}" if preset else "")
errors = (
    st.session_state.get("launch_errors", {}) if st.session_state.get("launch_errors_for") == form_key else {}
)
FORM_FIELDS = ("copies", "name", "config")  # the form's own fields: their errors are drawn by them
input_errors = {k: v for k, v in errors.items() if k not in FORM_FIELDS and not k.startswith("config.")}
config_errors = {k.removeprefix("config."): v for k, v in errors.items() if k.startswith("config.")}
config_schema = spec.config_json_schema()
with form_column, st.form(form_key, enter_to_submit=False):
    values = render_input_form(spec, start, input_errors, key=form_key)
    if config_schema is not None:
        st.markdown("**Config** (the run's `configurable` keys)")
        config_values = render_schema_form(config_schema, start_config, config_errors, f"{form_key}_config")
    else:
        config_problems = ([errors["config"]] if "config" in errors else []) + [
            f"Config key '{name}' {message}." for name, message in config_errors.items()
        ]
        with st.expander(
            "Config (optional)", icon=icon("tune"), expanded=bool(start_config or config_problems)
        ):
            config_values = {
                "__whole__": render_field(
                    "config",
                    {"title": "Config", "description": "The run's configurable keys, a JSON object."},
                    start_config or None,
                    f"{form_key}_config_json",
                )
            }
            for message in config_problems:
                st.error(message, icon=icon("error"))
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
    with st.expander("Save as a preset", icon=icon("bookmark_add")):
        new_preset = st.text_input(
            "Preset name", value=preset["name"] if preset else "", key=f"{form_key}_preset_name"
        )
        save = st.form_submit_button("Save preset", icon=icon("save"))
        if "name" in errors:
            st.error(f"A preset {errors['name']}.", icon=icon("error"))


def problems(
    data: dict, config: dict, parse_errors: dict[str, str], copies: int
) -> tuple[dict[str, str], str | None]:
    """Every field's error at once (JSON that does not parse, the package's checks of the input and
    the config, the copies), and an error that belongs to no field."""
    found, general = dict(parse_errors), None
    try:
        orch.check_launch(workflow, data, config)
    except InputError as exc:
        found = {**exc.field_errors, **found}
        general = None if exc.field_errors or found else str(exc)
    if not 1 <= copies <= MAX_COPIES:
        found["copies"] = "out of range"
    return found, general


def read_form() -> tuple[dict, dict, dict[str, str]]:
    """The input and config to send, and the fields whose JSON did not parse."""
    data, parse_errors = collect_input(values)
    config, config_parse = collect_input(config_values)
    if "input" in config_parse:
        config_parse = {"config": f"Config {config_parse['input']}."}
    else:
        config_parse = {f"config.{k}": v for k, v in config_parse.items()}
    return data, config, {**parse_errors, **config_parse}


if submitted or save:
    data, config, parse_errors = read_form()
    st.session_state["launch_errors_for"] = form_key
    st.session_state["launch_queued"] = None if save else st.session_state.get("launch_queued")
if save:
    found, general = problems(data, config, parse_errors, 1)
    if not new_preset.strip():
        found["name"] = "needs a name"
    if any((found, general)):
        st.session_state["launch_errors"], st.session_state["launch_failed"] = found, general
    else:
        try:
            orch.save_preset(workflow, new_preset, data, config, created_by=launcher)
        except InputError as exc:
            st.session_state["launch_errors"] = exc.field_errors
            st.session_state["launch_failed"] = None if exc.field_errors else str(exc)
        except OrchestratorError as exc:
            st.session_state["launch_errors"], st.session_state["launch_failed"] = {}, str(exc)
        else:
            st.session_state["launch_errors"] = {}
            st.session_state["launch_saved"] = f"Saved preset **{new_preset.strip()}** for {workflow}."
    st.rerun()
if submitted:
    tags = [t.strip() for t in tags_text.split(",") if t.strip()]
    fingerprint = hashlib.sha256(
        json.dumps([workflow, data, config, tags, copies], default=str).encode()
    ).hexdigest()
    last = st.session_state.get("launch_last", ("", 0.0))
    if last[0] == fingerprint and time.monotonic() - last[1] < DOUBLE_CLICK_SECONDS:
        pass  # the same form sent twice by a double click: queued once already
    elif any(checked := problems(data, config, parse_errors, int(copies or 0))):
        st.session_state["launch_errors"], general = checked
        if general:
            st.session_state["launch_failed"] = general
        st.session_state["launch_queued"] = None
        st.rerun()
    else:
        try:
            ids = orch.launch_copies(
                workflow,
                data,
                tags,
                int(copies or 0),
                config=config,
                preset=preset["name"] if preset else None,
                launched_by=launcher,
            )
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
if saved_message := st.session_state.pop("launch_saved", None):
    st.success(saved_message, icon=icon("bookmark_added"))
if queued := st.session_state.get("launch_queued"):
    links = ", ".join(f"[`{run_id}`]({detail_link(run_id)})" for run_id in queued)
    st.success(f"Queued {len(queued)} run{'s' * (len(queued) > 1)}: {links}", icon=icon("check_circle"))

st.subheader("Your runs")
render_live_runs(orch, launcher, key="launch_live")
