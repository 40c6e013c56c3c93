"""The dashboard's entry point: the pages, and the router that draws one behind the login gate."""

import streamlit as st

from dashboard.looks import PAGE_ICONS, icon
from dashboard.router import route
from dashboard.state import archive_text, read_only

pages = [
    st.Page("app_pages/runs.py", title="Runs", icon=icon(PAGE_ICONS["runs"]), default=True),
    st.Page("app_pages/run_detail.py", title="Run detail", icon=icon(PAGE_ICONS["run_detail"])),
    st.Page("app_pages/compare.py", title="Compare", icon=icon(PAGE_ICONS["compare"])),
    st.Page("app_pages/overview.py", title="Overview", icon=icon(PAGE_ICONS["overview"])),
    st.Page("app_pages/workers.py", title="Workers", icon=icon(PAGE_ICONS["workers"])),
]
if not read_only() and archive_text() is None:  # an archive is read-only: nothing to launch into
    pages.append(st.Page("app_pages/launch.py", title="Launch", icon=icon(PAGE_ICONS["launch"])))

route(pages)
