"""The runs page's "Move runs": the filtered runs exported to a file the browser downloads, and a
runs file imported after a preview of what it holds and would change (orchestrator.transfer.files
does the work). Off in read-only mode and while an archive is viewed (the orchestrator is then
read-only)."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from dashboard.downloads import lazy_download_button
from dashboard.looks import icon
from dashboard.state import cached_status_counts
from orchestrator.errors import OrchestratorError
from orchestrator.operations import Orchestrator
from orchestrator.run_queries import RunFilter
from orchestrator.transfer.files import ImportPreview, export_bytes, import_bytes, preview_import

PREVIEW_KEY = "runs_import_preview"  # (upload's file id, its preview or its error sentence)
DONE_KEY = "runs_import_done"
SHOWN_IDS = 20
CONFLICT_CHOICES = {"skip": "Keep what is here (skip them)", "replace": "Take the file's (replace them)"}


def render_move_runs(orch: Orchestrator, filters: RunFilter) -> None:
    """An expander under the runs table: export the matching runs, import a runs file."""
    with st.expander("Move runs: export to a file, import from one", icon=icon("swap_horiz")):
        if orch.config.read_only:
            st.caption("Off: this view is read-only (an archive, or a read-only dashboard).")
            return
        left, right = st.columns(2)
        with left:
            st.markdown("**Export**")
            st.caption(
                "The runs matching the filters above, with their tasks and every checkpoint, as a "
                "runs file (`.jsonl.gz`) that this page or `orchestrator import` reads."
            )
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
            lazy_download_button(
                "Export matching runs",
                lambda: export_bytes(orch.config, filters),
                f"runs-{stamp}.jsonl.gz",
                "application/gzip",
                key="runs_export",
                icon=":material/download:",
            )
        with right:
            st.markdown("**Import**")
            _render_import(orch)


def _render_import(orch: Orchestrator) -> None:
    if done := st.session_state.pop(DONE_KEY, None):
        st.success(done, icon=icon("check_circle"))
    generation = st.session_state.get("runs_import_generation", 0)
    upload = st.file_uploader(
        "A runs file (.jsonl or .jsonl.gz)", type=["jsonl", "gz"], key=f"runs_import_file_{generation}"
    )
    if upload is None:
        return
    data = upload.getvalue()
    known = st.session_state.get(PREVIEW_KEY)
    if known is None or known[0] != upload.file_id:
        try:
            found: ImportPreview | str = preview_import(orch.config, data, upload.name)
        except OrchestratorError as exc:
            found = str(exc)
        st.session_state[PREVIEW_KEY] = known = (upload.file_id, found)
    preview = known[1]
    if isinstance(preview, str):
        st.error(preview, icon=icon("error"))
        return
    st.markdown(preview.sentence())
    if preview.conflicting:
        shown = ", ".join(f"`{r}`" for r in preview.conflicting[:SHOWN_IDS])
        more = len(preview.conflicting) - SHOWN_IDS
        st.caption(f"With other content here: {shown}{f' and {more:,} more' if more > 0 else ''}")
        choice = st.radio(
            "Runs already here with other content",
            list(CONFLICT_CHOICES),
            format_func=CONFLICT_CHOICES.__getitem__,
            key="runs_import_conflicts",
        )
    else:
        choice = None
    adds = len(preview.new) + (len(preview.conflicting) if choice == "replace" else 0)
    if st.button(
        f"Import {adds:,} run{'s' * (adds != 1)}",
        key="runs_import_confirm",
        type="primary",
        disabled=adds == 0,
        icon=icon("upload"),
    ):
        try:
            outcome = import_bytes(orch.config, data, upload.name, on_conflict=choice)  # type: ignore[arg-type]
        except OrchestratorError as exc:
            st.error(str(exc), icon=icon("error"))
            return
        st.session_state[DONE_KEY] = (
            f"Imported {len(outcome.imported):,} runs, replaced {len(outcome.replaced):,}, "
            f"left {len(outcome.unchanged) + len(outcome.conflicts):,} as they were."
        )
        st.session_state.pop(PREVIEW_KEY, None)
        st.session_state["runs_import_generation"] = generation + 1  # a fresh, empty uploader
        cached_status_counts.clear()
        st.rerun()
