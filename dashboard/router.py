"""The one way into every page: page config, the login gate, navigation and the shared sidebar.

`streamlit_app.py` (the entry point) lists the pages and calls `route()`, which is Streamlit's
documented router: `st.navigation(pages).run()` with what every page shares around it. The
login gate is decided here, before navigation, so no page runs for a visitor who has not
logged in, whichever URL they open first.

The page files live in `app_pages/`, not `pages/`: Streamlit (1.67) runs an app whose entry point
has a `pages/` folder beside it in its old multipage mode until the first `st.navigation` call
in the process (PagesManager.uses_pages_directory), so on a fresh server the first visitor got
Streamlit's own page list (lower-case file names) for a moment, and a first deep link
(`/run_detail?run_id=…`) ran that page without the router. With no `pages/` folder, every script
run starts here.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard.archive import render_archive_banner
from dashboard.login import TITLE, login_gate
from dashboard.looks import icon
from dashboard.sidebar import render_sidebar
from orchestrator.errors import OrchestratorError

# The tab's icon, a file served with the app: a Material icon as page_icon is fetched from an
# online font service, which fails offline.
FAVICON = Path(__file__).with_name("favicon.png")


def route(pages: list[st.Page]) -> None:
    """Draw the page the URL names, behind the login gate, with the shared sidebar."""
    st.set_page_config(page_title=TITLE, page_icon=str(FAVICON), layout="wide")
    login_gate()
    navigation = st.navigation(pages)
    render_sidebar()
    render_archive_banner()
    try:
        navigation.run()
    except OrchestratorError as exc:
        # A user's error no page foresaw (a crafted link, a value past a limit): its one
        # sentence, never a traceback. Streamlit's own stop and rerun are not errors of ours.
        st.error(str(exc), icon=icon("error"))
