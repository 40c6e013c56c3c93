"""The one way into every page: page config, the login gate, navigation and the shared sidebar.

`streamlit_app.py` calls `route()`, and nothing of a page is drawn unless `route()` ran in
the same script run and let it through: the login gate is decided here, once, never by a page.

A fresh server has one way around the router: Streamlit runs apps that have a `pages/`
folder in its old multipage mode until the first `st.navigation` call in the process, so a
first visitor who opens a page URL directly (a shared `/run_detail?run_id=…`) would get that
page alone. Pages reach the package only through `dashboard.state.require_orchestrator()`,
which calls `ensure_router()` first: when this script run did not come through `route()`, it
runs the router in the page's place, in the same script run (so the widgets' events of this
run, a click or a form submit, are not lost as they would be with a rerun), then stops. Whether
the run came through the router is known per run (a thread-local set around the page), not
from Streamlit's process-wide flag, which another session may have flipped meanwhile.
"""

from __future__ import annotations

import runpy
import threading
from pathlib import Path

import streamlit as st
from streamlit.navigation.page import StreamlitPage
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

from dashboard.looks import PAGE_ICONS, icon
from dashboard.sidebar import render_sidebar
from dashboard.state import auth_configured
from orchestrator.errors import OrchestratorError

ROUTER = Path(__file__).resolve().parents[1] / "streamlit_app.py"
TITLE = "Orchestrator runs"
_run = threading.local()  # Streamlit runs each script run in its own thread, start to end.


def login_required() -> bool:
    """Whether this visitor must log in first: a login is configured and they have not."""
    return auth_configured() and not st.user.get("is_logged_in", False)


def login_gate() -> None:
    """Stop the script run after a "Log in" button unless the visitor may see the dashboard."""
    if login_required():
        # A dashboard reachable by others: nothing is shown before an OIDC login.
        st.title(TITLE)
        st.button("Log in", type="primary", on_click=st.login)
        st.stop()


def route(pages: list[StreamlitPage]) -> None:
    """Draw the page the URL names, behind the login gate, with the shared sidebar."""
    st.set_page_config(page_title=TITLE, page_icon=icon(PAGE_ICONS["app"]), layout="wide")
    login_gate()
    navigation = st.navigation(pages)
    render_sidebar()
    _run.routed = True
    try:
        navigation.run()
    except OrchestratorError as exc:
        # A user's error no page foresaw (a crafted link, a value past a limit): its one
        # sentence, never a traceback. Streamlit's own stop and rerun are not errors of ours.
        st.error(str(exc), icon=icon("error"))
    finally:
        _run.routed = False


def ensure_router() -> None:
    """For pages, before drawing anything: run the router instead when this run skipped it."""
    if getattr(_run, "routed", False):
        return
    ctx = get_script_run_ctx()
    if ctx is None or Path(ctx.main_script_path).resolve() != ROUTER:
        login_gate()  # the page is the app itself (`streamlit run pages/x.py`): no router, same gate
        return
    PagesManager.uses_pages_directory = False
    runpy.run_path(str(ROUTER), run_name="__main__")
    st.stop()
