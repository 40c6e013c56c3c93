"""Runs: every run, filtered, sorted and paged by the database; the filters live in the URL."""

import math

import streamlit as st

from dashboard.formatting import MISSING, runs_columns, runs_frame
from dashboard.looks import icon
from dashboard.run_filters import COUNT_LABELS, PAGE_SIZES, PARAMS, URL_MARKER, csv_export, to_run_filter
from dashboard.state import cached_status_counts, require_orchestrator
from dashboard.url_state import load_from_url, save_to_url
from orchestrator.errors import InputError
from orchestrator.runs import SORT_COLUMNS, TASK_COUNTS, RunPage
from orchestrator.status import ACTIVE, ALL_STATUSES
from orchestrator.validation import last_page

SORT_LABELS = {
    "created_at": "Created",
    "started_at": "Started",
    "finished_at": "Finished",
    "duration_seconds": "Duration",
    "run_id": "Run id",
    "workflow": "Workflow",
    "status": "Status",
    "tasks_total": "Tasks",
    "tasks_completed": "Completed",
    "tasks_failed": "Failed",
    "tags": "Tags",
    "worker": "Worker",
}

orch = require_orchestrator()
st.title("Runs")
load_from_url(PARAMS, URL_MARKER)

with st.container(border=True):
    top = st.columns([3, 2, 3, 3])
    top[0].multiselect("Status", list(ALL_STATUSES), key="runs_status")
    workflows = sorted(set(orch.store.workflow_names()) | set(orch.registry.names()))
    top[1].multiselect("Workflow", workflows, key="runs_workflow")
    top[2].date_input("Created between (UTC)", key="runs_created", format="YYYY-MM-DD")
    top[3].text_input("Search run id, tags, input", key="runs_search", placeholder="e.g. nightly or a run id")
    bounds = st.columns(6)
    for i, count in enumerate(TASK_COUNTS):
        label = COUNT_LABELS[count]
        bounds[2 * i].number_input(f"{label} ≥", min_value=0, step=1, key=f"runs_{count}_min")
        bounds[2 * i + 1].number_input(f"{label} ≤", min_value=0, step=1, key=f"runs_{count}_max")

try:
    filters = to_run_filter(st.session_state.to_dict())
except InputError as exc:  # a value past the package's limits (typed, or from a link)
    st.error(str(exc), icon=icon("warning"))
    st.stop()
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


@st.fragment(run_every=(2 if going_anywhere else 10) if live else None)
def runs_table() -> None:
    size, page_number = st.session_state["runs_page_size"], st.session_state["runs_page"]
    page_number = min(page_number, last_page(size))

    def query(number: int) -> RunPage:
        sort, descending = st.session_state["runs_sort"], not st.session_state["runs_ascending"]
        return orch.store.query_runs(
            filters, sort=sort, descending=descending, limit=size, offset=(number - 1) * size
        )

    page = query(page_number)
    pages = max(1, math.ceil(page.total / size))
    if page_number > pages:  # past the end (an old link, fewer runs now): show the last page
        page_number = pages
        page = query(page_number)
    going = sum(r["status"] in ACTIVE for r in page.rows)
    st.caption(
        f"**{page.total:,}** matching runs · page {page_number} of {pages:,} · {going} going on this page"
    )
    selection = st.dataframe(
        runs_frame(page.rows),
        column_config=runs_columns(),
        hide_index=True,
        placeholder=MISSING,
        on_select="rerun",
        selection_mode="multi-row",
        key="runs_table",
    )
    chosen = [page.rows[i]["run_id"] for i in selection.selection.rows if i < len(page.rows)]
    row = st.container(horizontal=True)
    if row.button("Open selected run", disabled=len(chosen) != 1, key="runs_open", icon=icon("open_in_new")):
        st.switch_page("pages/run_detail.py", query_params={"run_id": chosen[0]})
    if row.button(
        "Compare selected",
        disabled=not 2 <= len(chosen) <= 10,
        key="runs_compare",
        icon=icon("compare_arrows"),
    ):
        st.switch_page("pages/compare.py", query_params={"run_ids": ",".join(chosen)})


runs_table()
# Outside the live table, so that its file is not made anew at every refresh.
st.download_button(
    "Download filtered runs (CSV)",
    csv_export(orch.store, filters, st.session_state["runs_sort"], not st.session_state["runs_ascending"]),
    "runs.csv",
    "text/csv",
    key="runs_csv",
    icon=icon("download"),
    on_click="ignore",
)
