"""The archive view: another backend chosen in the sidebar, read-only, marked on every page.

The package opens it (orchestrator.archive); the session keeps its location (dashboard.state's
ARCHIVE_KEY), so every page the visitor opens reads it until it is closed. Its password is never
shown: the sidebar and the banner show the archive's label (a path, or the URI masked), and the
text typed to open it is cleared once it is taken.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from dashboard.looks import icon
from dashboard.state import ARCHIVE_KEY, archive_text, get_archive, get_orchestrator, viewed_archive
from orchestrator.archive import archive_location, parse_run_ref, run_ref
from orchestrator.errors import OrchestratorError
from orchestrator.operations import Orchestrator
from orchestrator.rows import RunRow
from orchestrator.runs import RunStore

INPUT_KEY = "sidebar_archive_input"
ERROR_KEY = "archive_error"


def _open_typed() -> None:
    """The Open button: take the typed location (cleared from the widget), or keep its error."""
    typed = st.session_state.get(INPUT_KEY, "")
    st.session_state[INPUT_KEY] = ""
    try:
        get_archive(archive_location(typed).where)
    except OrchestratorError as exc:
        st.session_state[ERROR_KEY] = str(exc)
        return
    st.session_state[ARCHIVE_KEY] = archive_location(typed).where


def _close() -> None:
    st.session_state.pop(ARCHIVE_KEY, None)


def render_archive_chooser(uri_html: Callable[[str], str]) -> None:
    """The sidebar's Archive section: open one (a SQLite path or a PostgreSQL URI), or close it.
    `uri_html` shows a masked URI as the sidebar does (wrapped between its parts, never inside)."""
    st.subheader("Archive")
    archive = viewed_archive()
    if error := st.session_state.pop(ERROR_KEY, None):
        st.error(error, icon=icon("error"))
    if archive is not None:
        st.markdown(f"Viewing **{archive.config.checkpoint_mode}** archive, read-only:")
        label = archive.config.display_name
        if archive.config.checkpoint_mode == "postgres":
            st.caption(uri_html(label), unsafe_allow_html=True)
        else:
            st.caption(f"`{label}`")
        st.button("Close archive", key="sidebar_archive_close", on_click=_close, icon=icon("close"))
        return
    st.text_input(
        "SQLite file or PostgreSQL URI",
        key=INPUT_KEY,
        placeholder="old/orchestrator.db or postgresql://…",
        help="Browse another backend's runs read-only, beside this one; the configuration is unchanged.",
    )
    st.button("Open archive", key="sidebar_archive_open", on_click=_open_typed, icon=icon("inventory_2"))


def render_archive_banner() -> None:
    """On every page while an archive is viewed: which one, and that nothing can be changed."""
    archive = viewed_archive()
    if archive is None:
        return
    st.warning(
        f"**Archive:** `{archive.config.display_name}` ({archive.config.checkpoint_mode}), read-only: "
        "these are not the configured backend's runs, and no action applies. Close it in the sidebar.",
        icon=icon("inventory_2"),
    )


def compare_refs(run_ids: list[str]) -> list[str]:
    """The runs page's chosen ids as compare names them (`archive:<id>` while an archive is viewed)."""
    archived = archive_text() is not None
    return [run_ref(run_id, archived=archived) for run_id in run_ids]


def compared_runs(refs: list[str]) -> tuple[list[RunRow], list[bool], list[str]]:
    """The runs `refs` name, in order (from the configured backend, or `archive:<id>` from the
    archive); whether each is the archive's; and the refs that name no run."""
    live = get_orchestrator()
    archive = viewed_archive()
    sources: dict[bool, Orchestrator | None] = {False: live, True: archive}
    found: dict[str, tuple[RunRow, bool]] = {}
    for archived in (False, True):
        ids = [run_id for is_archived, run_id in map(parse_run_ref, refs) if is_archived == archived]
        source = sources[archived]
        if ids and source is not None:
            for run in source.store.get_runs(ids):
                found[run_ref(run["run_id"], archived=archived)] = (run, archived)
    runs = [found[ref] for ref in refs if ref in found]
    return [run for run, _ in runs], [archived for _, archived in runs], [r for r in refs if r not in found]


def compare_choices(limit: int = 200) -> list[str]:
    """Recent runs to offer on compare: the configured backend's, then the archive's (`archive:<id>`)."""
    refs = [r["run_id"] for r in get_orchestrator().store.query_runs(limit=limit).rows]
    if (archive := viewed_archive()) is not None:
        refs += [run_ref(r["run_id"], archived=True) for r in archive.store.query_runs(limit=limit).rows]
    return refs


def store_of(archived: bool) -> RunStore:
    """The run store a compared run came from: the archive's, or the configured backend's."""
    archive = viewed_archive() if archived else None
    return (archive if archive is not None else get_orchestrator()).store


def tasks_of(run: RunRow, archived: bool) -> list[dict[str, Any]]:
    """A compared run's tasks, from the backend it came from."""
    return [dict(task) for task in store_of(archived).get_tasks(run["run_id"])]
