"""Helpers for the AppTest page tests: a fresh Streamlit state, a page opened by URL, runs executed."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.components.v2 import manifest_scanner
from streamlit.testing.v1 import AppTest

from orchestrator.checkpointer import startup
from orchestrator.config import OrchestratorConfig
from orchestrator.executor import Executor
from orchestrator.operations import Orchestrator
from tests.helpers import AT_REST, wait_for

APP = Path(__file__).resolve().parents[1] / "streamlit_app.py"

# Every new AppTest scans the metadata of every installed package for Streamlit components (about
# half a second, most of a page test's time); the installed packages do not change while the
# suite runs, so each test process scans once, as a real server does once at start-up.
manifest_scanner.scan_component_manifests = functools.cache(manifest_scanner.scan_component_manifests)


def reset_streamlit() -> None:
    st.cache_resource.clear()  # also stops an embedded executor (on_release)
    st.cache_data.clear()


def open_page(page: str, /, **params: str) -> AppTest:
    """A new session on `pages/<page>.py` with the given URL query parameters, rendered once."""
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.switch_page(f"app_pages/{page}.py")
    at.query_params.update(params)
    return at.run()


def execute(orch: Orchestrator, run_ids: list[str], until: tuple[str, ...] = AT_REST) -> dict[str, dict]:
    """Run the queued runs with a standalone executor until each is in `until`; always stop it."""
    executor = Executor(orch.config, engine=orch.engine, registry=orch.registry, poll_seconds=0.1)
    executor.start()
    try:
        wait_for(
            lambda: all(orch.get_run(r)["status"] in until for r in run_ids),
            what=f"runs {run_ids} to reach {until}",
        )
    finally:
        executor.stop(grace=5)
    assert not executor.is_alive
    return {r: dict(orch.get_run(r)) for r in run_ids}


def main_texts(at: AppTest, kind: str) -> list[str]:
    return [str(e.value) for e in getattr(at.main, kind)]


# -- fixtures for the page tests in tests/pages (registered by tests/pages/conftest.py) ------------


@pytest.fixture
def page_orch(app_config: OrchestratorConfig) -> Iterator[Orchestrator]:
    """The test's own Orchestrator on the app's database (conftest's `app_config`, both backends),
    with LangGraph's saver tables set up too (what any executor does first)."""
    orch = Orchestrator(app_config)
    asyncio.run(startup(orch.config, orch.engine))
    yield orch
    orch.engine.dispose()
