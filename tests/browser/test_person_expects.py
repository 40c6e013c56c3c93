"""Journeys of issue 23 ("what a person expects"), in Chromium on both backends: bulk actions on
the runs page; a run's tags and note changed after launch; human words on every page.

The bulk and note journeys write their runs into the dashboard's database (at rest: waiting,
succeeded, failed, so the embedded executor leaves them alone), all carrying a tag of their own
that the journey filters on; what happened is read back from the run store. The words journey
reads the demo data set.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from playwright.sync_api import TimeoutError as PlaywrightTimeout

from orchestrator import run_notes
from orchestrator.db import utcnow
from orchestrator.operations import Orchestrator
from orchestrator.run_queries import RunFilter
from orchestrator.runs import new_run_id
from orchestrator.status import RunStatus
from scripts.browser import wait_until_drawn
from scripts.demo_data import DemoData
from tests.browser.conftest import Dashboard
from tests.browser.test_journeys import caption_with, fill_kept, main, open_page, pick
from tests.helpers import wait_for

# Newest first, as the runs page lists them.
STATUSES = [
    RunStatus.AWAITING_INPUT,
    RunStatus.SUCCEEDED,
    RunStatus.AWAITING_INPUT,
    RunStatus.FAILED,
    RunStatus.SUCCEEDED,
]
ROW_PX = 35  # the grid's header and each row


def seed(orch: Orchestrator, tag: str) -> list[str]:
    now = utcnow()
    ids = [new_run_id() for _ in STATUSES]
    orch.store.insert_many(
        [
            {
                "run_id": run_id,
                "workflow": "simulate",
                "status": status,
                "created_at": now - dt.timedelta(minutes=n),
                "input": {"tasks": 1},
                "tags": [tag],
            }
            for n, (run_id, status) in enumerate(zip(ids, STATUSES, strict=True))
        ]
    )
    return ids


def statuses(orch: Orchestrator, ids: list[str]) -> list[str]:
    return [orch.get_run(run_id)["status"] for run_id in ids]


def select_row(page: Any, row: int, count: int) -> None:
    """Tick a row's box in the runs table (the grid's first column), as a person does, until the
    bulk bar says `count` runs are selected."""
    table = main(page).get_by_test_id("stDataFrame").first
    for _ in range(5):  # a redraw between finding the grid and clicking it moves it: try again
        wait_until_drawn(page)
        table.scroll_into_view_if_needed()
        box = table.locator("canvas").first.bounding_box()
        page.mouse.click(box["x"] + 18, box["y"] + ROW_PX + ROW_PX * row + ROW_PX // 2)
        try:
            page.get_by_text(f"Selected runs ({count})").wait_for(timeout=10_000)
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"row {row} could not be ticked")


def test_bulk_cancel_every_matching_run_then_tag_two_selected(page: Any, dashboard: Dashboard) -> None:
    orch = Orchestrator(dashboard.config)  # the tables, if no journey made them yet
    try:
        tag = f"bulk-{uuid.uuid4().hex[:8]}"
        ids = seed(orch, tag)
        open_page(page, dashboard, f"/?q={tag}", "Runs")
        wait_for(lambda: caption_with(page, "matching runs").startswith("5 matching runs"), what="5 runs")

        # Every run matching the filter, cancelled: the confirmation says how many and which are skipped.
        page.get_by_text("All runs matching the filters").click()
        pick(page, "stSelectbox", "Action", "Cancel")
        page.get_by_role("button", name="Review…").click()
        confirmation = (
            "Would cancel 2 runs (2 waiting); 3 skipped (2 succeeded, 1 failed): only queued, running, "
            "waiting or interrupted runs can be cancelled."
        )
        main(page).get_by_test_id("stAlert").filter(has_text=confirmation).wait_for()
        assert statuses(orch, ids) == list(STATUSES)  # nothing done before the confirmation
        page.get_by_role("button", name="Yes, cancel 2 runs").click()
        main(page).get_by_text("Cancelled 2 runs (2 waiting); 3 skipped").wait_for()
        assert statuses(orch, ids) == ["cancelled", "succeeded", "cancelled", "failed", "succeeded"]

        # Two runs ticked in the table, tagged.
        select_row(page, 1, 1)
        select_row(page, 3, 2)
        selected = page.get_by_role("radio", name="Selected runs (2)")
        selected.wait_for()
        page.get_by_text("Selected runs (2)").click()
        wait_for(selected.is_checked, what="the selected runs chosen")
        pick(page, "stSelectbox", "Action", "Tag")
        fill_kept(page, page.get_by_role("textbox", name="Add tags"), "checked, week-49")
        page.get_by_role("button", name="Review…").click()
        main(page).get_by_test_id("stAlert").filter(
            has_text="Would tag 2 runs (1 succeeded, 1 failed)."
        ).wait_for()
        page.get_by_role("button", name="Yes, tag 2 runs").click()
        main(page).get_by_text("Tagged 2 runs (1 succeeded, 1 failed).").wait_for()
        assert [orch.get_run(r)["tags"] for r in ids] == [
            [tag],
            [tag, "checked", "week-49"],
            [tag],
            [tag, "checked", "week-49"],
            [tag],
        ]
    finally:
        orch.engine.dispose()


def test_tags_and_a_note_changed_on_run_detail_are_kept_and_found(page: Any, dashboard: Dashboard) -> None:
    orch = Orchestrator(dashboard.config)  # the tables, if no journey made them yet
    try:
        tag = f"note-{uuid.uuid4().hex[:8]}"
        run_id = seed(orch, tag)[1]  # a succeeded run
        open_page(page, dashboard, f"/run_detail?run_id={run_id}", "Run detail")
        page.get_by_role("tab", name="Note and tags").click()
        panel = page.get_by_role("tabpanel", name="Note and tags")
        panel.get_by_text("No note yet.").wait_for()

        # A new tag typed into the tags box, and a markdown note.
        tags = panel.get_by_test_id("stMultiSelect").filter(has_text="Tags").get_by_role("combobox")
        tags.fill("cold-cache")
        page.keyboard.press("Enter")
        page.keyboard.press("Escape")
        panel.get_by_role("textbox", name="Note (markdown)").fill("## Why slow\nThe cache was **cold**.")
        panel.get_by_role("button", name="Save").click()
        panel.get_by_text("Saved the tags and the note.").wait_for()

        # The note drawn as markdown; who changed what, kept below it.
        panel.get_by_role("heading", name="Why slow").wait_for()
        assert panel.locator("strong", has_text="cold").count() == 1
        run = orch.get_run(run_id)
        assert (run["tags"], run["note"]) == ([tag, "cold-cache"], "## Why slow\nThe cache was **cold**.")
        assert sorted(e["field"] for e in run_notes.edits(orch, run_id)) == ["note", "tags"]
        assert all(e["by"].startswith("browser:") for e in run_notes.edits(orch, run_id))
        panel.get_by_text("Changes").wait_for()

        # The new tag finds the run on the runs page.
        assert [r["run_id"] for r in orch.store.page_runs(RunFilter(text="cold-cache"))] == [run_id]
        open_page(page, dashboard, "/?q=cold-cache", "Runs")
        wait_for(lambda: caption_with(page, "matching runs").startswith("1 matching runs"), what="1 run")
        assert run_id in main(page).get_by_test_id("stDataFrame").first.locator("table").inner_text()
    finally:
        orch.engine.dispose()


# Stored names a page must never show a person: the words for them are "awaiting input",
# "Completed", "Delay (ms)"...
RAW_NAMES = (
    "awaiting_input",
    "tasks_total",
    "tasks_completed",
    "tasks_failed",
    "success_rate",
    "work_seconds",
    "wall_seconds",
    "Delay S",
    "Delay Ms",
    "Fan Out",
    "Fail Rate",
)


def shown_text(page: Any) -> str:
    """What the page shows: its text, and its tables' column headers (a table is drawn on a
    canvas; the grid keeps an accessible copy of its headers and cells. The cells are the stored
    values, not the words drawn for them, so only the headers are read there)."""
    wait_until_drawn(page)
    headers = main(page).get_by_test_id("stDataFrame").locator("table th")
    return "\n".join([page.locator("body").inner_text(), *headers.all_inner_texts()])


def test_every_page_speaks_in_words_not_stored_names(page: Any, dashboard: Dashboard, demo: DemoData) -> None:
    visits = {
        "/": "Runs",
        f"/run_detail?run_id={demo.real['waiting']}": "Run detail",
        f"/run_detail?run_id={demo.real['failed']}": "Run detail",
        "/compare?run_ids=" + ",".join(demo.real[n] for n in ("small", "wide", "failed")): "Compare runs",
        "/overview": "Overview",
        "/workers": "Workers",
        "/launch": "Launch a run",
    }
    for path, heading in visits.items():
        open_page(page, dashboard, path, heading)
        text = shown_text(page)
        found = [text[max(0, i - 80) : i + 40] for name in RAW_NAMES for i in [text.find(name)] if i >= 0]
        assert not found, (path, found)
        if path == "/":  # the headers were read: the runs table's are words
            grid = main(page).get_by_test_id("stDataFrame")
            # the grid writes its accessible table after it draws: wait for a header to be there
            grid.locator("table th", has_text="Completed").first.wait_for(state="attached", timeout=30_000)
            headers = grid.locator("table th").all_inner_texts()
            assert {"Status", "Completed", "Failed"} <= set(headers), headers
    # The launch form's simulate fields, in words.
    assert page.get_by_role("spinbutton", name="Delay (ms)").count() == 1
