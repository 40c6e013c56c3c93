"""Resources made once per process (st.cache_resource) and data cached briefly (st.cache_data)."""

from __future__ import annotations

import atexit
import gc
from typing import Any

import streamlit as st

from dashboard.login import login_gate
from orchestrator.archive import archive_location, open_archive
from orchestrator.config import OrchestratorConfig
from orchestrator.errors import OrchestratorError
from orchestrator.executor import Executor
from orchestrator.graphs import graph_dot
from orchestrator.history import checkpoint_history
from orchestrator.metrics import Period, overview
from orchestrator.operations import Orchestrator
from orchestrator.run_queries import MatchCount, RunFilter
from orchestrator.runs_csv import download_count

# The server's process ends without Python's last garbage collections over everything it imported
# (as `orchestrator.cli.run`): the OS frees it. Registered once, at this module's first import.
atexit.register(gc.freeze)


@st.cache_resource(show_spinner=False)
def get_orchestrator() -> Orchestrator:
    """The config, engine (one per process) and run store; migrates the runs tables once."""
    return Orchestrator(OrchestratorConfig())


def _stop_executor(executor: Executor) -> None:
    executor.stop(grace=5)


@st.cache_resource(show_spinner=False, on_release=_stop_executor)
def get_executor() -> Executor:
    """The embedded executor: the SQLite default needs nothing else to run what is launched."""
    orch = get_orchestrator()
    executor = Executor(orch.config, engine=orch.engine, registry=orch.registry)
    executor.start()
    return executor


def embedded_executor_wanted(config: OrchestratorConfig) -> bool:
    """Off in read-only mode, or with ORCHESTRATOR_EMBEDDED_EXECUTOR=0 when workers run elsewhere."""
    return config.embedded_executor and not config.read_only


def open_orchestrator() -> Orchestrator | None:
    """The orchestrator, with its embedded executor started; on a user's error, a banner and None."""
    try:
        orch = get_orchestrator()
        if embedded_executor_wanted(orch.config):
            get_executor()
        return orch
    except OrchestratorError as exc:
        st.error(f"**The orchestrator cannot start.** {exc}", icon=":material/error:")
        return None


def require_orchestrator() -> Orchestrator:
    """For pages, first thing: the orchestrator of what the session views (the archive opened in
    the sidebar, read-only, else the configured backend), or stop the page after the banner.

    The router (dashboard.router) has let the visitor through its login gate before any page
    runs; a page run as an app of its own (`streamlit run app_pages/runs.py`) meets the same
    gate here."""
    login_gate()
    orch = open_orchestrator()
    if orch is None:
        st.stop()
    if (archive := viewed_archive()) is not None:
        return archive
    return orch


# -- an archive: another backend opened read-only for this session (dashboard/archive.py) ---------

ARCHIVE_KEY = "archive_location"  # the session's archive as typed (it may hold a password)


def _close_archive(orch: Orchestrator) -> None:
    orch.engine.dispose()


@st.cache_resource(show_spinner="Opening the archive…", max_entries=8, on_release=_close_archive)
def get_archive(location: str) -> Orchestrator:
    """An archive's read-only orchestrator, one per location and process (errors are not cached)."""
    return open_archive(OrchestratorConfig(), archive_location(location))


def archive_text() -> str | None:
    """The location of the archive this session views, or None for the configured backend."""
    return st.session_state.get(ARCHIVE_KEY) or None


def viewed_archive() -> Orchestrator | None:
    """The session's archive, or None; one that no longer opens is closed with its sentence."""
    location = archive_text()
    if location is None:
        return None
    try:
        return get_archive(location)
    except OrchestratorError as exc:
        st.session_state.pop(ARCHIVE_KEY, None)
        st.session_state["archive_error"] = str(exc)
        return None


def source_orchestrator(archive: str | None) -> Orchestrator:
    """The configured backend's orchestrator, or the archive's at `archive`."""
    return get_archive(archive) if archive else get_orchestrator()


def cached_history(
    run_id: str, version: tuple[Any, ...], *, archived: bool | None = None
) -> list[dict[str, Any]]:
    """A run's checkpoints; `version` (status, task counts) changes whenever the run moves on.
    From the backend the session views, or (`archived`) the archive's or the configured one's."""
    archive = archive_text() if archived is None or archived else None
    return _cached_history(run_id, version, archive)


@st.cache_data(ttl=3, show_spinner=False)
def _cached_history(run_id: str, version: tuple[Any, ...], archive: str | None) -> list[dict[str, Any]]:
    orch = source_orchestrator(archive)
    nodes = {task["task_id"]: task["node"] for task in orch.store.get_tasks(run_id)}
    return checkpoint_history(orch.config, run_id, nodes)


class _StatusCounts:
    """Runs by status in the backend the session views (the sidebar of every page reads it);
    `.clear()` after an action changed a run."""

    def __call__(self) -> dict[str, int]:
        return _cached_status_counts(archive_text())

    def clear(self) -> None:
        _cached_status_counts.clear()


cached_status_counts = _StatusCounts()


@st.cache_data(ttl=1, show_spinner=False)
def _cached_status_counts(archive: str | None) -> dict[str, int]:
    """Shared by every session for a second."""
    return source_orchestrator(archive).store.count_by_status()


def read_only() -> bool:
    """Whether the dashboard hides every action that changes data (a bad config counts as yes:
    nothing can be changed through a config that cannot be used)."""
    try:
        return bool(OrchestratorConfig().read_only)
    except OrchestratorError:
        return True


def cached_download_count(key: tuple[Any, ...]) -> MatchCount:
    """How many runs the CSV of a filter (its fields, as a tuple) would hold uncut (runs_csv.download_count)."""
    return _cached_download_count(key, archive_text())


@st.cache_data(ttl=30, show_spinner=False)
def _cached_download_count(key: tuple[Any, ...], archive: str | None) -> MatchCount:
    return download_count(source_orchestrator(archive).store, RunFilter(*key))


def cached_overview(start: Any, end: Any, workflows: tuple[str, ...]) -> dict[str, Any]:
    """The overview's aggregates for a period (start/end rounded by the caller, so reruns hit the cache)."""
    return _cached_overview(start, end, workflows, archive_text())


@st.cache_data(ttl=10, show_spinner="Computing figures…")
def _cached_overview(start: Any, end: Any, workflows: tuple[str, ...], archive: str | None) -> dict[str, Any]:
    return overview(source_orchestrator(archive).engine, Period(start, end), workflows)


@st.cache_data(ttl=600, show_spinner=False)
def cached_graph_dot(
    workflow: str,
    counts: tuple[tuple[str, tuple[tuple[str, int], ...]], ...] | None = None,
    rankdir: str = "TB",
) -> str:
    """The workflow's graph as DOT (`orchestrator.graphs.graph_dot`); with `counts` (a run's task
    statuses by node, as sorted tuples so they hash) each node coloured by them."""
    spec = get_orchestrator().registry.get(workflow)
    by_node = None if counts is None else {node: dict(statuses) for node, statuses in counts}
    return graph_dot(spec, by_node, rankdir=rankdir)


def counts_key(counts: dict[str, dict[str, int]]) -> tuple[tuple[str, tuple[tuple[str, int], ...]], ...]:
    """A run's node counts ({node: {status: n}}) as the hashable key `cached_graph_dot` takes."""
    return tuple(sorted((node, tuple(sorted(statuses.items()))) for node, statuses in counts.items()))
