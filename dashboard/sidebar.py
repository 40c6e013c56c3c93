"""The sidebar every page shares: which database, whether it answers, and the run counts."""

from __future__ import annotations

import html
import re

import streamlit as st

from dashboard.archive import render_archive_chooser
from dashboard.exposure import render_exposure_warning
from dashboard.formatting import count_text
from dashboard.login import auth_configured
from dashboard.looks import icon
from dashboard.state import archive_text, cached_status_counts, open_orchestrator
from orchestrator.config import OrchestratorConfig
from orchestrator.db import check_database
from orchestrator.errors import OrchestratorError
from orchestrator.status import ACTIVE

NOT_OK = f":red[{icon('cancel')}]"
OK = f":green[{icon('check_circle')}]"


def uri_html(masked: str) -> str:
    """The masked URI in pieces that never break inside (user, host:port, database), so a narrow
    sidebar wraps it between them, never in the middle of its port."""
    found = re.match(r"(?P<head>[^@]*@)?(?P<host>[^/?]*)(?P<rest>.*)", masked)
    parts = [p for p in (found.group("head"), found.group("host"), found.group("rest")) if p] if found else [masked]
    return "<wbr>".join(
        f'<code style="white-space:nowrap">{html.escape(part)}</code>' for part in parts
    )


def render_sidebar() -> None:
    """Mode, URI (masked) and its source, database health, run counts; errors as one sentence."""
    with st.sidebar:
        if auth_configured() and st.user.get("is_logged_in", False):
            st.markdown(f"Logged in as **{st.user.get('name') or st.user.get('email')}**")
            st.button("Log out", on_click=st.logout, key="sidebar_logout")
        render_exposure_warning()
        st.subheader("Database")
        try:
            config = OrchestratorConfig()
        except OrchestratorError as exc:
            st.error(str(exc))
            return
        st.markdown(f"**Mode:** `{config.checkpoint_mode}`")
        if config.checkpoint_mode == "sqlite":
            st.caption(f"File: `{config.display_name}`")
        masked = config.masked_uri()
        st.markdown(f"**POSTGRES_URI:** {config.uri_source}")
        if masked:
            st.caption(uri_html(masked), unsafe_allow_html=True)
        orch = open_orchestrator()
        if orch is None:
            st.markdown(f"**Database:** {NOT_OK} not usable")
            return
        try:
            check_database(orch.engine)
        except OrchestratorError as exc:
            st.markdown(f"**Database:** {NOT_OK} does not answer")
            st.error(str(exc))
            return
        st.markdown(f"**Database:** {OK} answers")
        render_archive_chooser(uri_html)
        st.subheader("Runs in the archive" if archive_text() else "Runs")
        render_run_counts()
        if config.read_only or archive_text():
            st.info("Read-only: launching and run actions are off.", icon=icon("lock"))


def render_run_counts() -> None:
    """How many runs there are and how many are going, refreshed every 2 s while runs are going
    (every 10 s otherwise), whatever the page is doing."""
    going = any(cached_status_counts()[status] for status in ACTIVE)

    @st.fragment(run_every=2 if going else 10)
    def run_counts() -> None:
        counts = cached_status_counts()
        left, right = st.columns(2)
        # Half the sidebar holds about six digits: larger counts are shortened, exact on hover.
        figures = {
            "All runs": sum(counts.values()),
            "Running": counts["running"],
            "Queued": counts["queued"],
            "Awaiting input": counts["awaiting_input"],
        }
        for column, (label, n) in zip((left, right, left, right), figures.items(), strict=True):
            column.metric(label, count_text(n), help=f"{n:,} runs" if n >= 100_000 else None)

    run_counts()
