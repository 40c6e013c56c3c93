"""Helpers for the AppTest page tests: a fresh Streamlit state, a page opened by URL, runs executed."""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from orchestrator.executor import Executor
from orchestrator.operations import Orchestrator
from tests.helpers import AT_REST, wait_for

APP = Path(__file__).resolve().parents[1] / "streamlit_app.py"


def reset_streamlit() -> None:
    st.cache_resource.clear()  # also stops an embedded executor (on_release)
    st.cache_data.clear()
    PagesManager.uses_pages_directory = None


def open_page(page: str, /, **params: str) -> AppTest:
    """A new session on `pages/<page>.py` with the given URL query parameters, rendered once."""
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.switch_page(f"pages/{page}.py")
    at.query_params.update(params)
    return at.run()


def execute(orch: Orchestrator, run_ids: list[str], until: tuple[str, ...] = AT_REST) -> dict[str, dict]:
    """Run the queued runs with a standalone executor until each is in `until`; always stop it."""
    executor = Executor(orch.config, engine=orch.engine, registry=orch.registry, poll_seconds=0.1)
    executor.start()
    try:
        wait_for(
            lambda: all(orch.store.get_run(r)["status"] in until for r in run_ids),
            what=f"runs {run_ids} to reach {until}",
        )
    finally:
        executor.stop(grace=5)
    assert not executor.is_alive
    return {r: orch.store.get_run(r) for r in run_ids}


def main_texts(at: AppTest, kind: str) -> list[str]:
    return [str(e.value) for e in getattr(at.main, kind)]
