"""Runs: every run, filtered, sorted and paged by the database; the filters live in the URL."""

import math

import streamlit as st

from dashboard.actions import current_launcher
from dashboard.archive import compare_refs
from dashboard.bulk_actions import render_bulk_actions
from dashboard.downloads import runs_csv_buttons
from dashboard.formatting import MISSING, runs_columns, runs_frame
from dashboard.looks import icon, status_word
from dashboard.run_filters import (
    COUNT_LABELS,
    PAGE_SIZES,
    PARAMS,
    URL_MARKER,
    add_where,
    chosen_columns,
    chosen_sort,
    to_run_filter,
)
from dashboard.run_plots import render_plots
from dashboard.state import cached_status_counts, require_orchestrator
from dashboard.transfer import render_move_runs
from dashboard.url_state import load_from_url, save_to_url, unread_sentence
from orchestrator.compare_fields import MAX_COMPARED
from orchestrator.db.field_indexes import indexed_field_names
from orchestrator.errors import InputError
from orchestrator.rows import RunSummary
from orchestrator.run_queries import (
    COST,
    COUNT_CAP,
    OPERATORS,
    SORT_COLUMNS,
    TASK_COUNTS,
    USAGE_COUNTS,
    empty_ranges,
)
from orchestrator.status import ACTIVE, ALL_STATUSES
from orchestrator.validation import last_page

SORT_LABELS = {
    "created_at": "Created",
    "started_at": "Started",
    "finished_at": "Finished",
    "work_seconds": "Work time",
    "wall_seconds": "Wall time",
    "run_id": "Run id",
    "workflow": "Workflow",
    "status": "Status",
    "tasks_total": "Tasks",
    "tasks_completed": "Completed",
    "tasks_failed": "Failed",
    "tags": "Tags",
    "worker": "Worker",
    "cost_usd": "Cost",
    "tokens": "Tokens",
    "input_tokens": "Input tokens",
    "output_tokens": "Output tokens",
    "model_calls": "Model calls",
    "warnings": "Warnings",
    "errors": "Errors",
}

orch = require_orchestrator()
st.title("Runs")
# One banner for what is wrong with the filters: the link's unreadable values, and (below) a value
# past the package's limits, said together where both are wrong.
banner = st.empty()
if unread := load_from_url(PARAMS, URL_MARKER):
    banner.error(unread_sentence(unread), icon=icon("link_off"))

with st.container(border=True):
    top = st.columns([3, 2, 3, 3])
    top[0].multiselect("Status", list(ALL_STATUSES), key="runs_status", format_func=status_word)
    workflows = sorted(set(orch.store.workflow_names()) | set(orch.registry.names()))
    top[1].multiselect("Workflow", workflows, key="runs_workflow")
    top[2].date_input("Created between (UTC)", key="runs_created", format="YYYY-MM-DD")
    top[3].text_input("Search run id, tags, input", key="runs_search", placeholder="e.g. nightly or a run id")
    bounds = st.columns([1, 1, 1, 1, 1, 1, 2])
    for i, count in enumerate(TASK_COUNTS):
        label = COUNT_LABELS[count]
        bounds[2 * i].number_input(f"{label} ≥", min_value=0, step=1, key=f"runs_{count}_min")
        bounds[2 * i + 1].number_input(f"{label} ≤", min_value=0, step=1, key=f"runs_{count}_max")
    bounds[6].text_input(
        "Launched by",
        key="runs_launched_by",
        placeholder="e.g. ann@example.com",
        help="Exactly who launched the run: a login's email, cli:user@host, or a browser's launcher id. "
        f"You are {current_launcher()}.",
    )
    # What the run's model calls and logs add up to (its row keeps them; tokens: input + output).
    usage = st.columns(2 * (1 + len(USAGE_COUNTS)))
    usage[0].number_input("Cost $ ≥", min_value=0.0, step=0.01, format="%.6f", key=f"runs_{COST}_min")
    usage[1].number_input("Cost $ ≤", min_value=0.0, step=0.01, format="%.6f", key=f"runs_{COST}_max")
    for i, count in enumerate(USAGE_COUNTS, start=1):
        label = COUNT_LABELS[count]
        usage[2 * i].number_input(f"{label} ≥", min_value=0, step=1, key=f"runs_{count}_min")
        usage[2 * i + 1].number_input(f"{label} ≤", min_value=0, step=1, key=f"runs_{count}_max")
    fields = st.columns([3, 2, 1, 2, 1], vertical_alignment="bottom")
    fields[0].text_input(
        "Field", key="runs_where_path", placeholder="input.tasks, state.summary.total, metrics.accuracy"
    )
    fields[1].selectbox("Operator", OPERATORS, key="runs_where_op")
    fields[2].text_input("Value", key="runs_where_value", placeholder="100")
    fields[3].button(
        "Add field filter",
        key="runs_where_add",
        on_click=add_where,
        args=(st.session_state,),
        icon=icon("add"),
    )
    st.text_area(
        "Field filters, one a line",
        key="runs_where",
        height=68,
        placeholder="input.tasks >= 100\nmetrics.accuracy > 0.9\nstate.summary.label contains done\ninput.goal is set",
        help="Typed by the value: a number compares numbers, true/false booleans, anything else (or quoted) text.",
    )
    st.caption(
        f"Indexed, fast at any size: {', '.join(indexed_field_names(orch.engine))}. Other fields are read "
        "row by row: quick beside another filter, slower alone on many runs "
        "(`orchestrator index add FIELD` indexes one)."
    )
    if mistake := st.session_state.get("runs_where_error"):
        st.error(mistake, icon=icon("warning"))

try:
    filters = to_run_filter(st.session_state.to_dict())
    sort = chosen_sort(st.session_state.to_dict())
    columns = chosen_columns(st.session_state.to_dict())
except InputError as exc:  # a value past the package's limits (typed, or from a link)
    said = f"{unread_sentence(unread)} {exc}" if unread else str(exc)
    banner.error(said, icon=icon("warning"))
    st.stop()
for name in empty_ranges(filters):
    low, high = getattr(filters, f"{name}_min"), getattr(filters, f"{name}_max")
    st.warning(
        f"{COUNT_LABELS[name]} ≥ {low} and ≤ {high}: the range is empty, so no run can match.",
        icon=icon("warning"),
    )
signature = repr(filters)
if st.session_state.get("runs_signature", signature) != signature:
    st.session_state["runs_page"] = 1  # new filters start on the first page
st.session_state["runs_signature"] = signature

controls = st.columns([2, 1, 1, 1, 2])
controls[0].selectbox(
    "Sort by",
    list(SORT_COLUMNS.keys()),
    key="runs_sort",
    format_func=lambda column: SORT_LABELS.get(column, column),
)
controls[1].toggle("Ascending", key="runs_ascending")
more = st.columns([1, 2])
more[0].text_input(
    "Or sort by a field",
    key="runs_sort_field",
    placeholder="input.tasks or metrics.accuracy (empty: the column above)",
)
# Offered: the fields the workflows' input models declare and those found in the last page shown.
models = [
    orch.registry.get(w).input_model
    for w in (filters.workflows or orch.registry.names())
    if w in orch.registry
]
offered = orch.store.offered_fields(st.session_state.get("runs_page_ids", []), models)
more[1].multiselect(
    "Field columns",
    list(dict.fromkeys([*columns, *offered])),
    key="runs_columns",
    accept_new_options=True,
    placeholder="input.tasks, state.summary.total, metrics.accuracy",
    help="Fields of the input, the final state or the run's metrics, shown as more columns (and in the CSV).",
)
controls[2].selectbox("Page size", PAGE_SIZES, key="runs_page_size")
controls[3].number_input("Page", min_value=1, step=1, key="runs_page")
live = controls[4].toggle(
    "Live refresh",
    value=True,
    key="runs_live",
    help="Refresh every 2 s while runs are going (every 10 s otherwise)",
)
save_to_url(PARAMS, URL_MARKER)


# Every 2 s while something is going; an idle table looks for new runs every 10 s.
going_anywhere = any(cached_status_counts()[status] for status in ACTIVE)
REFRESH = (2 if going_anywhere else 10) if live else None


@st.fragment(run_every=REFRESH)
def runs_table() -> None:
    """The page of runs: drawn without waiting for the count (its own fragment, below)."""
    size, page_number = st.session_state["runs_page_size"], st.session_state["runs_page"]
    page_number = min(page_number, last_page(size))
    descending = not st.session_state["runs_ascending"]

    def query(number: int) -> list[RunSummary]:
        return orch.store.page_runs(
            filters, sort=sort, descending=descending, limit=size, offset=(number - 1) * size, columns=columns
        )

    rows = query(page_number)
    if not rows and page_number > 1:  # past the end (an old link, fewer runs now): show the last page
        page_number = max(1, math.ceil(orch.store.count_matching(filters, cap=None).value / size))
        rows = query(page_number)
    st.session_state["runs_shown_page"] = page_number
    st.session_state["runs_seen"] = (page_number - 1) * size + len(rows)  # at least this many match
    st.session_state["runs_going"] = sum(r["status"] in ACTIVE for r in rows)
    st.session_state["runs_page_ids"] = [r["run_id"] for r in rows]
    selection = st.dataframe(
        runs_frame(rows, columns),
        column_config=runs_columns(),
        hide_index=True,
        placeholder=MISSING,
        on_select="rerun",
        selection_mode="multi-row",
        key="runs_table",
    )
    chosen = [rows[i]["run_id"] for i in selection.selection.rows if i < len(rows)]
    row = st.container(horizontal=True)
    if row.button("Open selected run", disabled=len(chosen) != 1, key="runs_open", icon=icon("open_in_new")):
        st.switch_page("app_pages/run_detail.py", query_params={"run_id": chosen[0]})
    if row.button(
        "Compare selected",
        disabled=not 2 <= len(chosen) <= MAX_COMPARED,
        key="runs_compare",
        icon=icon("compare_arrows"),
    ):
        st.switch_page("app_pages/compare.py", query_params={"run_ids": ",".join(compare_refs(chosen))})
    render_bulk_actions(orch, chosen, filters)


@st.fragment(run_every=REFRESH)
def match_count() -> None:
    """How many runs match: capped by the package (e.g. "10,000+"), exact on demand."""
    exact = st.session_state.get("runs_exact_for") == signature
    count = orch.store.count_matching(filters, cap=None if exact else COUNT_CAP)
    count = count.at_least(st.session_state.get("runs_seen", 0))
    st.session_state["runs_count_exact"] = count.exact
    size = st.session_state["runs_page_size"]
    pages = f"{max(1, math.ceil(count.value / size)):,}" + ("" if count.exact else "+")
    line = st.container(horizontal=True, vertical_alignment="center")
    line.caption(
        f"**{count}** matching runs · page {st.session_state.get('runs_shown_page', 1)} of {pages} · "
        f"{st.session_state.get('runs_going', 0)} going on this page"
    )
    if not count.exact:
        line.button("Count all", key="runs_count_all", type="tertiary", on_click=count_exactly)


def count_exactly() -> None:
    st.session_state["runs_exact_for"] = signature  # until the filters change


count_slot = st.container()  # above the table, filled after it: the table never waits on the count
runs_table()
with count_slot:
    match_count()
# Outside the live table, so that its file is not made anew at every refresh; made when clicked,
# and kept while the live table refreshes (dashboard/downloads.py).
runs_csv_buttons(
    orch.store,
    filters,
    sort,
    not st.session_state["runs_ascending"],
    counted_all=st.session_state.get("runs_count_exact", True),
    columns=columns,
)
if st.toggle("Plot the filtered runs", key="runs_plot", help="A scatter and parallel coordinates of these runs"):
    render_plots(orch, filters, sort, not st.session_state["runs_ascending"], offered)
render_move_runs(orch, filters)
