"""With an [auth] section in the secrets, no page shows anything before a login."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")
AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "not-a-real-secret",
    "client_id": "dashboard",
    "client_secret": "not-a-real-secret",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}


@pytest.fixture(autouse=True)
def sqlite_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHECKPOINT_MODE", "sqlite")
    monkeypatch.setenv("SQLITE_PATH", str(tmp_path / "orchestrator.db"))
    monkeypatch.setenv("ORCHESTRATOR_EMBEDDED_EXECUTOR", "0")
    for cache in (st.cache_resource, st.cache_data):
        cache.clear()
    PagesManager.uses_pages_directory = None
    yield
    for cache in (st.cache_resource, st.cache_data):
        cache.clear()


@pytest.mark.parametrize("page", [None, "pages/run_detail.py", "pages/launch.py"])
def test_pages_need_a_login_when_auth_is_configured(page: str | None) -> None:
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets["auth"] = AUTH
    if page:
        at.switch_page(page)
    at.run()
    assert not at.exception
    assert [b.label for b in at.button] == ["Log in"]
    assert [t.value for t in at.title] == ["Orchestrator runs"]
    assert not at.dataframe and not at.sidebar.markdown


def test_without_auth_the_runs_page_opens() -> None:
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Runs"]
    assert "Log in" not in [b.label for b in at.button]
