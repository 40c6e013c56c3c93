"""Resources made once per process (st.cache_resource) and data cached briefly (st.cache_data)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard.login import login_gate
from orchestrator.config import OrchestratorConfig
from orchestrator.errors import OrchestratorError
from orchestrator.executor import Executor
from orchestrator.graphs import graph_dot
from orchestrator.history import checkpoint_history
from orchestrator.metrics import Period, overview
from orchestrator.operations import Orchestrator
from orchestrator.run_queries import MatchCount, RunFilter
from orchestrator.runs_csv import download_count


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
    """For pages, first thing: the orchestrator, or stop the page after the banner.

    The router (dashboard.router) has let the visitor through its login gate before any page
    runs; a page run as an app of its own (`streamlit run app_pages/runs.py`) meets the same
    gate here."""
    login_gate()
    orch = open_orchestrator()
    if orch is None:
        st.stop()
    return orch


@st.cache_data(ttl=3, show_spinner=False)
def cached_history(run_id: str, version: tuple[Any, ...]) -> list[dict[str, Any]]:
    """A run's checkpoints; `version` (status, task counts) changes whenever the run moves on."""
    orch = get_orchestrator()
    nodes = {task["task_id"]: task["node"] for task in orch.store.get_tasks(run_id)}
    return checkpoint_history(orch.config, run_id, nodes)


@st.cache_data(ttl=1, show_spinner=False)
def cached_status_counts() -> dict[str, int]:
    """Runs by status, shared by every session for a second (the sidebar of every page reads it)."""
    return get_orchestrator().store.count_by_status()


def read_only() -> bool:
    """Whether the dashboard hides every action that changes data (a bad config counts as yes:
    nothing can be changed through a config that cannot be used)."""
    try:
        return bool(OrchestratorConfig().read_only)
    except OrchestratorError:
        return True


@st.cache_data(ttl=30, show_spinner=False)
def cached_download_count(key: tuple[Any, ...]) -> MatchCount:
    """How many runs the CSV of a filter (its fields, as a tuple) would hold uncut (runs_csv.download_count)."""
    return download_count(get_orchestrator().store, RunFilter(*key))


@st.cache_data(ttl=10, show_spinner="Computing figures…")
def cached_overview(start: Any, end: Any, workflows: tuple[str, ...]) -> dict[str, Any]:
    """The overview's aggregates for a period (start/end rounded by the caller, so reruns hit the cache)."""
    return overview(get_orchestrator().engine, Period(start, end), workflows)


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
