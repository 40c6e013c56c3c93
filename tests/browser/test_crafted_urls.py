"""Crafted URLs in Chromium: every page opened with each of its query parameters set to NUL,
thousands of characters, unicode or SQL draws its heading and at most its one-sentence errors: no
exception box, no traceback, no error in the server's log (the `page` fixture checks the last two
after the journey; this checks each page as it goes).

What only a browser and a real server add is the way there: the browser's encoding of the URL,
Streamlit's frontend handing the query to the server, the size of a request Tornado takes. That is
the same whatever the database, so this runs on SQLite; what each value does once it reaches a
page and its queries (these values and more, negative and huge numbers among them) is
tests/pages/test_crafted_urls.py on both backends, one AppTest per value."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest

from orchestrator.operations import Orchestrator
from tests.browser.conftest import Dashboard, assert_no_error
from tests.browser.test_journeys import open_page

CRAFTED = {
    "nul": "a\x00b",
    # Nine of them fit the 64 KB of a request the server takes (Tornado refuses a longer one
    # before the app sees it); 100,000 characters: tests/pages/test_crafted_urls.py.
    "long": "x" * 6_000,
    # Multi-byte, right-to-left, a line separator, quotes, spaces and a semicolon: each encoded on
    # the way (apart in tests/pages/test_crafted_urls.py, where each reaches the page alone).
    "unicode and sql": "é😀\u202e\u2028'; DROP TABLE runs; --",
}
PAGES = {
    "/": (
        "Runs",
        ["status", "workflow", "tasks_total_min", "tasks_failed_max", "created", "q", "sort", "size", "page"],
    ),
    "/run_detail": ("Run detail", ["run_id"]),
    "/compare": ("Compare runs", ["run_ids"]),
    "/launch": ("Launch a run", ["by", "workflow", "from_run"]),
    "/overview": ("Overview", ["period", "days", "workflow", "wall"]),
    "/workers": ("Workers", ["worker"]),
}


@pytest.mark.parametrize("dashboard", ["sqlite"], indirect=True)
def test_crafted_urls_on_every_page_show_no_traceback(page: Any, dashboard: Dashboard) -> None:
    orch = Orchestrator(dashboard.config)  # sets the database up, as the dashboard does
    try:
        orch.launch("simulate", {"tasks": 2, "delay_ms": 1}, ["crafted"], launched_by="browser:crafted")
    finally:
        orch.engine.dispose()
    for path, (heading, names) in PAGES.items():
        for label, value in CRAFTED.items():
            try:
                open_page(page, dashboard, f"{path}?{urlencode(dict.fromkeys(names, value))}", heading)
                assert_no_error(page)
            except Exception as exc:
                raise AssertionError(f"{path} with every parameter = {label}: {str(exc)[:300]}") from None
    # The launch page says why it did not take the link's launcher id, in one sentence.
    open_page(page, dashboard, f"/launch?by={'x' * 60_000}", "Launch a run")
    alert = page.get_by_test_id("stAlertContentError").filter(has_text="launcher id")
    assert "This link's launcher id (by) is not one this dashboard makes (browser: and" in alert.inner_text()
