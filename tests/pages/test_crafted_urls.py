"""Crafted URLs (both backends): every query parameter of every page, set to what a person or a
script could type (NUL, 100,000 characters, unicode, SQL, negative and huge numbers, NaN, broken
dates), draws the page or its one-sentence error, never an exception box or a traceback."""

from __future__ import annotations

import datetime as dt

import pytest
from streamlit.testing.v1 import AppTest

from orchestrator.operations import Orchestrator
from tests.apptest_helpers import main_texts, open_page

CRAFTED = {
    "nul": "a\x00b",
    "huge": "x" * 100_000,
    "unicode": "é😀\u202e\u2028ﷺ",
    "sql": "'; DROP TABLE runs; --",
    "negative": "-1",
    "huge number": "9" * 400,
    "float": "1e309",
    "nan": "NaN",
    "dates": "0001-01-01..9999-12-31",
    "commas": ",,,a,,",
    "control": "two\nlines\t\x1b",
}
# Each page's query parameters (dashboard/run_filters.py PARAMS for the runs page), and one
# the page does not know.
PAGES = {
    "runs": [
        "status",
        "workflow",
        "tasks_total_min",
        "tasks_total_max",
        "tasks_completed_min",
        "tasks_completed_max",
        "tasks_failed_min",
        "tasks_failed_max",
        "created",
        "q",
        "launched_by",
        "where",
        "sort",
        "sort_field",
        "columns",
        "asc",
        "size",
        "page",
        "plot",
        "plot_x",
        "plot_y",
        "plot_color",
        "plot_fields",
    ],
    "run_detail": ["run_id"],
    "compare": ["run_ids"],
    "launch": ["by", "workflow", "from_run"],
    "overview": ["period", "days", "workflow", "wall"],
    "workers": [],
}


def seed(orch: Orchestrator) -> None:
    created = dt.datetime(2026, 2, 1, 9, tzinfo=dt.UTC)
    orch.store.insert_many(
        [
            {"run_id": f"r{n}", "workflow": "simulate", "status": "succeeded", "created_at": created,
             "started_at": created, "finished_at": created + dt.timedelta(seconds=n + 1),
             "input": {"tasks": 1}, "tags": ["nightly"], "launched_by": "browser:abc"}
            for n in range(3)
        ]
    )  # fmt: skip


def assert_no_exception(at: AppTest, what: str) -> None:
    assert not at.exception, (what, [e.value for e in at.exception])
    for kind in ("error", "warning", "info", "markdown", "caption"):
        for text in main_texts(at, kind):
            assert "Traceback" not in text, (what, text)


@pytest.mark.parametrize("page", list(PAGES))
def test_every_query_parameter_of_every_page_takes_anything(page_orch: Orchestrator, page: str) -> None:
    seed(page_orch)
    for label, value in CRAFTED.items():
        # All of the page's parameters at once, then each alone (an early error would hide a later one).
        everything = {name: value for name in [*PAGES[page], "unknown"]}
        assert_no_exception(open_page(page, **everything), f"{page}: every parameter = {label}")
        for name in PAGES[page] if label in ("nul", "huge", "huge number", "control") else []:
            assert_no_exception(open_page(page, **{name: value}), f"{page}: {name} = {label}")


def test_a_bad_query_parameter_is_the_pages_one_sentence(page_orch: Orchestrator) -> None:
    seed(page_orch)
    at = open_page("runs", tasks_total_min="9" * 400, page="-1", sort="nope")
    assert_no_exception(at, "runs")
    assert main_texts(at, "error") == [
        "This link's `tasks_total_min`, `sort` and `page` are not values this page takes, so they are "
        "left at their defaults."
    ]
    assert len(main_texts(at, "error")) == 1
    at.run()  # the URL now holds what the widgets hold: said once
    assert main_texts(at, "error") == []

    for by in ("a\x00b", "x" * 100_000, "cli:ana@host", "ana@example.com"):
        at = open_page("launch", by=by)
        assert_no_exception(at, "launch")
        assert main_texts(at, "error") == [
            "This link's launcher id (`by`) is not one this dashboard makes (browser: and at most 64 "
            "letters, digits, - or _), so the runs you launch here get a new one."
        ]
        assert at.query_params["by"].startswith("browser:") and at.query_params["by"] != by
    at = open_page("launch", by="browser:abc")
    assert main_texts(at, "error") == []
    assert "Runs you launch appear here" not in main_texts(at, "caption")  # its three runs are found
