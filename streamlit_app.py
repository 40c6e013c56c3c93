"""The dashboard's entry point: the pages, and the router that draws one behind the login gate."""

import streamlit as st

from dashboard.router import route
from dashboard.state import read_only

pages = [
    st.Page("pages/runs.py", title="Runs", icon="📋", default=True),
    st.Page("pages/run_detail.py", title="Run detail", icon="🔎"),
    st.Page("pages/compare.py", title="Compare", icon="⚖️"),
    st.Page("pages/overview.py", title="Overview", icon="📈"),
]
if not read_only():
    pages.append(st.Page("pages/launch.py", title="Launch", icon="🚀"))

route(pages)
