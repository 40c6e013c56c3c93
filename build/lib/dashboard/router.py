"""Keep deep links working on a fresh server.

Streamlit runs apps that have a `pages/` folder in its old multipage mode until the first
`st.navigation` call in the process. A first visitor who opens a page URL directly (a shared
`/run_detail?run_id=…`) would get that page alone, without the router (no sidebar, no page
config). Every page calls `ensure_router()` first: in that case it leaves the old mode and
runs streamlit_app.py in its place, in the same script run, so the widgets' events of this
run (a click, a form submit) are not lost as they would be with a rerun.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

ROUTER = Path(__file__).resolve().parents[1] / "streamlit_app.py"


def ensure_router() -> None:
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        runpy.run_path(str(ROUTER), run_name="__main__")
        st.stop()
