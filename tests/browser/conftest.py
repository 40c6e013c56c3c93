"""Fixtures of the browser journeys: one dashboard per backend, Debian's Chromium, a page per test.

The dashboard is started as people start it (`streamlit run streamlit_app.py`, its embedded
executor on, a team's own graphs registered through ORCHESTRATOR_WORKFLOWS) on a throwaway SQLite
file or PostgreSQL database, and stopped (its database
dropped) when the module's journeys on that backend are over. It opens empty; the first test
that asks for `demo` fills it with the demo data set (scripts/demo_data.py), once. Every test
gets a new tab at 1440×900 in its module's one browser context, with no cookie or stored item
of the tests before it, and, when it ends, must have left no exception box or traceback on its
page and no error in the server's log. The context is shared for its cache: Streamlit's front end
(several megabytes of JavaScript) then comes from the browser's cache and compiled code, as for a
person who opens the dashboard again, instead of being fetched and compiled for every test.

Skipped with the reason when Chromium or Playwright is missing, unless
ORCHESTRATOR_REQUIRE_BROWSER=1 (set by .ci/run), which makes that a failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from orchestrator.config import OrchestratorConfig
from scripts.browser import launch_chromium, missing_browser, new_context, wait_until_drawn
from scripts.dashboard_server import DashboardServer
from scripts.demo_data import DemoData, seed_demo
from scripts.team_demo import TEAM_WORKFLOWS
from tests.conftest import BACKENDS, _admin_connect

# A team's own graphs beside the built-ins: scripts/team_demo.py's, and one that records its own
# metrics (tests/metric_workflows.py).
WORKFLOWS = {**TEAM_WORKFLOWS, "scored": "tests.metric_workflows:build_scored"}
STEP_MS = 60_000  # every wait in a journey: generous, the machine is shared and has two cores
HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A module's journeys on one backend go to one pytest-xdist worker (`--dist loadgroup` in
    pyproject.toml), so each module's dashboard, demo data and Chromium start once per backend,
    not once on every worker that happens to get one of its tests. Modules share nothing (each
    has its own dashboard and database), so each module and backend is a group of its own:
    the groups spread over the workers, and no worker waits through every journey of a backend
    in a row. pytest-xdist hands out the groups with the most tests first. A test on a server of
    its own is no group's."""
    for item in items:
        params = getattr(item, "callspec", None)
        backend = params.params.get("dashboard") if params else None
        path = Path(item.path).resolve()
        if backend and path.is_relative_to(HERE):
            item.add_marker(pytest.mark.xdist_group(f"browser-{path.stem}-{backend}"))


@dataclass
class Dashboard:
    """A running dashboard on one backend, and the demo data once it is seeded."""

    backend: str
    server: DashboardServer
    config: OrchestratorConfig
    demo: DemoData | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url


# Module-scoped, not session-scoped: Playwright's sync API runs an event loop in the main thread
# while it is open, and every later test that calls asyncio.run() there would fail.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if reason := missing_browser():
        if os.environ.get("ORCHESTRATOR_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{reason}; ORCHESTRATOR_REQUIRE_BROWSER=1 forbids skipping")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


def _database(
    backend: str, folder: Path, request: pytest.FixtureRequest
) -> tuple[dict[str, str], str | None]:
    """The server's environment for a fresh database on `backend`, and the PostgreSQL one to drop."""
    if backend == "sqlite":
        return {"CHECKPOINT_MODE": "sqlite", "SQLITE_PATH": str(folder / "orchestrator.db")}, None
    admin = request.getfixturevalue("postgres_admin")
    name = f"test_browser_{uuid.uuid4().hex[:10]}"
    with _admin_connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    uri = make_url(admin).set(database=name).render_as_string(hide_password=False)
    return {"CHECKPOINT_MODE": "postgres", "POSTGRES_URI": uri}, name


@pytest.fixture(scope="module", params=BACKENDS)
def dashboard(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, browser: Any
) -> Iterator[Dashboard]:
    """A dashboard on an empty database of the backend, for every journey of that backend."""
    folder = tmp_path_factory.mktemp(f"dashboard-{request.param}")
    env, database = _database(request.param, folder, request)
    env["ORCHESTRATOR_WORKFLOWS"] = json.dumps(WORKFLOWS)
    config = OrchestratorConfig(
        checkpoint_mode=env["CHECKPOINT_MODE"],
        sqlite_path=env.get("SQLITE_PATH", "orchestrator.db"),
        postgres_uri=env.get("POSTGRES_URI"),
        workflows=WORKFLOWS,
        env_file=None,
    )
    try:
        with DashboardServer(folder, env) as server:
            yield Dashboard(request.param, server, config, env=env)
    finally:
        if database:
            with _admin_connect() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture
def demo(dashboard: Dashboard) -> DemoData:
    """The demo data set in the dashboard's database (seeded by the first test that asks)."""
    if dashboard.demo is None:
        dashboard.demo = seed_demo(dashboard.config)
    return dashboard.demo


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


FAILED = pytest.StashKey[bool]()


@pytest.fixture(scope="module")
def browser_context(browser: Any) -> Iterator[Any]:
    """The module's browser context (1440×900, downloads accepted): its tabs share the cache."""
    context = new_context(browser, accept_downloads=True)
    yield context
    context.close()


@pytest.fixture
def page(browser_context: Any, dashboard: Dashboard, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A new tab at 1440×900 on the dashboard, with no cookie or stored item of an earlier test;
    afterwards, no exception box, traceback or log error.

    When the journey fails, what the tab showed is saved next to the server's log."""
    context = browser_context
    tab = context.new_page()
    tab.set_default_timeout(STEP_MS)
    offset = dashboard.server.log_size()
    try:
        yield tab
        if request.node.stash.get(FAILED, False):
            shot = dashboard.server.folder / f"{request.node.name}.png"
            tab.screenshot(path=shot, full_page=True)
            print(f"what the page showed: {shot}")
            return
        assert_no_error(tab)
        errors = dashboard.server.errors_since(offset)
        assert not errors, "the server logged errors:\n" + dashboard.server.log(offset)
    finally:
        forget(context)  # the tab and any other the journey opened


def forget(context: Any) -> None:
    """Nothing of an earlier test in `context` but its cache: no tab, cookie (the launcher id the
    launch page keeps), permission, or item in the dashboards' local storage."""
    from playwright.sync_api import Error as PlaywrightError

    for opened in context.pages:
        if opened.url.startswith("http"):
            with contextlib.suppress(PlaywrightError):  # a tab that crashed has nothing to keep
                opened.evaluate("() => { localStorage.clear(); sessionStorage.clear(); }")
        opened.close()
    context.clear_cookies()
    context.clear_permissions()


def assert_no_error(tab: Any) -> None:
    """No exception box and no Python traceback anywhere on the page as it is now."""
    if tab.url.startswith("http"):
        wait_until_drawn(tab)
    assert tab.get_by_test_id("stException").count() == 0, tab.get_by_test_id("stException").all_inner_texts()
    assert "Traceback (most recent call last)" not in tab.locator("body").inner_text()


def download_by_clicking(page: Any, button: Any) -> Any:
    """The Download that clicking `button` starts, clicking again, as a person does, when none
    started within a third of a step: on the loaded 2-core CI machine a click on a download
    button that fell on a rerun of the page started nothing (seen once, on Export matching runs).
    A button that never downloads still fails, on the second click."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        with page.expect_download(timeout=STEP_MS // 3) as download:
            button.click()
        return download.value
    except PlaywrightTimeout:
        wait_until_drawn(page)
        with page.expect_download(timeout=STEP_MS) as download:
            button.click()
        return download.value
