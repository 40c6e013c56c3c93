"""Journey: "Your runs" stay. The launch page keeps this browser's launcher id in a cookie, so
/launch without `?by=` — a bookmark, a new tab — finds the same runs; another browser does not.

The cookie is the browser's and the server's, whatever the database: this runs on SQLite. The runs
a launcher id finds, on both backends: test_launch.py::
test_live_view_follows_a_launched_run_to_the_end_and_finds_it_again_by_url."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from dashboard.actions import LAUNCHER_COOKIE
from scripts.browser import new_context
from tests.browser.conftest import STEP_MS, Dashboard
from tests.browser.test_journeys import open_page


def launcher_in_url(tab: Any) -> str:
    deadline = time.monotonic() + STEP_MS / 1000
    while time.monotonic() < deadline:
        found = parse_qs(urlparse(tab.url).query).get("by")
        if found:
            return found[0]
        tab.wait_for_timeout(100)
    raise AssertionError(f"no ?by= in {tab.url}")


def cookie(tab: Any) -> str | None:
    deadline = time.monotonic() + STEP_MS / 1000
    while time.monotonic() < deadline:
        kept = {c["name"]: c["value"] for c in tab.context.cookies()}
        if LAUNCHER_COOKIE in kept:
            return str(kept[LAUNCHER_COOKIE])
        tab.wait_for_timeout(100)
    return None


@pytest.mark.parametrize("dashboard", ["sqlite"], indirect=True)
def test_your_runs_survive_a_new_tab_without_the_by_link(page: Any, dashboard: Dashboard, browser: Any) -> None:
    open_page(page, dashboard, "/launch", "Launch a run")
    mine = launcher_in_url(page)
    assert mine.startswith("browser:")
    assert cookie(page) == mine

    again = page.context.new_page()
    try:
        open_page(again, dashboard, "/launch", "Launch a run")  # a bookmark of /launch, a new tab
        assert launcher_in_url(again) == mine
    finally:
        again.close()

    other = new_context(browser)
    try:
        stranger = other.new_page()
        open_page(stranger, dashboard, "/launch", "Launch a run")
        assert launcher_in_url(stranger) not in ("", mine)
    finally:
        other.close()
