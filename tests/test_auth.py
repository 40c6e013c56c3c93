"""With an [auth] section in the secrets, no page shows anything before a login."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
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
def sqlite_app(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    """conftest's clean_env (no setting from outside, fresh Streamlit state), on a SQLite file."""
    clean_env.setenv("CHECKPOINT_MODE", "sqlite")
    clean_env.setenv("SQLITE_PATH", str(tmp_path / "orchestrator.db"))


@pytest.mark.parametrize("page", [None, "app_pages/run_detail.py", "app_pages/launch.py"])
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


# -- the gate is the router's: every page, on a cold deep link -----------------------------------

ROOT = Path(__file__).resolve().parents[1]
EVERY_PAGE = sorted(f"app_pages/{p.name}" for p in (ROOT / "app_pages").glob("*.py"))
DEEP_LINK_PARAMS = {"run_id": "abc", "run_ids": "abc,def", "q": "x", "from_run": "abc"}


def cold_deep_link(page: str, user: dict | None = None) -> AppTest:
    """A first visitor on a fresh server opening `page` directly, with [auth] configured (each
    AppTest is a fresh app: Streamlit's navigation state is made anew)."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets["auth"] = AUTH
    if user is not None:
        at.user = user
    at.switch_page(page)
    at.query_params.update(DEEP_LINK_PARAMS)
    return at.run()


def assert_only_the_login(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert [b.label for b in at.button] == ["Log in"]
    assert [t.value for t in at.title] == ["Orchestrator runs"]
    assert not at.dataframe and not at.sidebar.markdown and not at.error and not at.info


def test_there_are_pages_to_check():
    assert {"app_pages/runs.py", "app_pages/run_detail.py", "app_pages/launch.py"} <= set(EVERY_PAGE)


@pytest.mark.parametrize("page", EVERY_PAGE)
def test_every_page_on_a_cold_deep_link_shows_only_the_login(page: str) -> None:
    assert_only_the_login(cold_deep_link(page))


@pytest.mark.parametrize("page", EVERY_PAGE)
def test_a_logged_out_user_sees_only_the_login(page: str) -> None:
    assert_only_the_login(cold_deep_link(page, {"is_logged_in": False}))


@pytest.mark.parametrize("page", EVERY_PAGE)
def test_a_logged_in_user_sees_the_page_and_who_they_are(page: str) -> None:
    at = cold_deep_link(page, {"is_logged_in": True, "email": "ann@example.com", "name": "Ann"})
    assert not at.exception, [e.value for e in at.exception]
    assert "Log in" not in [b.label for b in at.button]
    assert "Logged in as **Ann**" in [m.value for m in at.sidebar.markdown]
    assert [t.value for t in at.title] and at.title[0].value != "Orchestrator runs"


def test_no_pages_folder_beside_the_entry_point() -> None:
    """Streamlit runs an app with a `pages/` folder beside its entry point in its old multipage
    mode until the first `st.navigation` call in the process: the first visitor of a fresh server
    would get Streamlit's own page list, and a first deep link would run its page without the
    router and its login gate. The pages live in app_pages/ (dashboard/router.py)."""
    assert not (ROOT / "pages").exists()
    assert (ROOT / "app_pages" / "runs.py").is_file()


# -- who can reach the dashboard -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "reachable"),
    [
        (None, True),
        ("", True),
        ("0.0.0.0", True),
        ("::", True),
        ("192.168.1.20", True),
        ("dash.example.com", True),
        ("127.0.0.1", False),
        ("127.0.0.2", False),
        ("::1", False),
        ("[::1]", False),
        ("localhost", False),
        (" LOCALHOST ", False),
    ],
)
def test_reachable_from_other_machines(address: str | None, reachable: bool) -> None:
    from dashboard.exposure import reachable_from_other_machines

    assert reachable_from_other_machines(address) is reachable


def test_the_exposure_warning_depends_on_login_and_read_only() -> None:
    from dashboard.exposure import exposure_warning

    assert exposure_warning("127.0.0.1", login=False, read_only=False) is None
    assert exposure_warning("0.0.0.0", login=True, read_only=False) is None
    writable = exposure_warning("0.0.0.0", login=False, read_only=False)
    assert writable and "launch, cancel and delete runs" in writable and '"0.0.0.0"' in writable
    reading = exposure_warning(None, login=False, read_only=True)
    assert reading and "read every run" in reading and "every interface" in reading
    for message in (writable, reading):
        assert "\n" not in message and message.endswith(".")


def test_the_repository_config_listens_on_this_machine_only() -> None:
    import tomllib

    settings = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert settings["server"]["address"] == "127.0.0.1"


@pytest.mark.parametrize(
    ("address", "secrets", "user", "warned"),
    [
        ("0.0.0.0", False, None, True),
        (None, False, None, True),
        ("127.0.0.1", False, None, False),
        ("0.0.0.0", True, {"is_logged_in": True, "email": "ann@example.com"}, False),
    ],
)
def test_the_sidebar_warns_when_others_can_reach_the_dashboard_without_a_login(
    monkeypatch: pytest.MonkeyPatch, address: str | None, secrets: bool, user: dict | None, warned: bool
) -> None:
    import dashboard.exposure

    real = st.get_option
    monkeypatch.setattr(
        dashboard.exposure.st, "get_option", lambda key: address if key == "server.address" else real(key)
    )
    at = AppTest.from_file(APP, default_timeout=60)
    if secrets:
        at.secrets["auth"] = AUTH
    if user is not None:
        at.user = user
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    warnings = [w.value for w in at.sidebar.warning if "Other machines can open this dashboard" in w.value]
    assert bool(warnings) is warned, warnings
    if warned:
        assert "launch, cancel and delete runs" in warnings[0]
