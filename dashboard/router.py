"""Keep deep links working on a fresh server.

Streamlit runs apps that have a `pages/` folder in its old multipage mode until the first
`st.navigation` call in the process. A first visitor who opens a page URL directly (a shared
`/run_detail?run_id=…`) would get that page without the router (no sidebar, no page config).
Every page calls `ensure_router()` first: in that case it switches Streamlit to the router
and reruns, which runs streamlit_app.py for the same URL.
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def ensure_router() -> None:
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
