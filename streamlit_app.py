"""The dashboard's entry point: page config, navigation over pages/, and the shared sidebar."""

import streamlit as st

from dashboard.sidebar import render_sidebar
from dashboard.state import auth_configured, read_only

st.set_page_config(page_title="Orchestrator runs", page_icon="🧭", layout="wide")

pages = [
    st.Page("pages/runs.py", title="Runs", icon="📋", default=True),
    st.Page("pages/run_detail.py", title="Run detail", icon="🔎"),
    st.Page("pages/compare.py", title="Compare", icon="⚖️"),
    st.Page("pages/overview.py", title="Overview", icon="📈"),
]
if not read_only():
    pages.append(st.Page("pages/launch.py", title="Launch", icon="🚀"))

if auth_configured() and not st.user.get("is_logged_in", False):
    # A dashboard reachable by others: nothing is shown before an OIDC login.
    st.title("Orchestrator runs")
    st.button("Log in", type="primary", on_click=st.login)
    st.stop()

navigation = st.navigation(pages)
render_sidebar()
navigation.run()
