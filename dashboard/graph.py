"""The workflow's graph on a page (`st.graphviz_chart` of `orchestrator.graphs.graph_dot`), or one
sentence when the graph cannot be built here (a team's graph that fails to compile)."""

from __future__ import annotations

import streamlit as st

from dashboard.state import cached_graph_dot, counts_key


def render_graph(workflow: str, counts: dict[str, dict[str, int]] | None = None, rankdir: str = "TB") -> None:
    """Draw the graph; with `counts` (a run's task statuses by node) each node coloured by them."""
    try:
        dot = cached_graph_dot(workflow, None if counts is None else counts_key(counts), rankdir)
    except Exception as exc:  # a team's graph may raise anything while it is built or compiled
        st.caption(f"The graph of '{workflow}' cannot be drawn here ({type(exc).__name__}: {exc}).")
        return
    st.graphviz_chart(dot)
