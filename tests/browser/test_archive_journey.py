"""Browsing an archive and moving runs, in Chromium, on SQLite and on PostgreSQL: the sidebar opens
the other backend (a PostgreSQL database, its URI with a password, beside a live SQLite file; a
SQLite file beside a live PostgreSQL), every page says so and offers no action, compare puts an
archived run beside a live one; then the live runs are exported to a downloaded file, and that
file uploaded again is previewed as changing nothing."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.config import OrchestratorConfig
from orchestrator.operations import Orchestrator
from scripts.browser import wait_until_drawn
from tests.browser.conftest import Dashboard, download_by_clicking
from tests.browser.test_journeys import main, open_page, pick
from tests.helpers import wait_for

SECRET = "pw-s3cret-never-shown"


def seed(orch: Orchestrator, prefix: str, statuses: list[str]) -> list[str]:
    base = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
    ids = [f"{prefix}{n}" for n in range(len(statuses))]
    orch.store.insert_many(
        [
            {
                "run_id": run_id,
                "workflow": "simulate",
                "status": status,
                "created_at": base + dt.timedelta(minutes=n),
                "input": {"tasks": n + 2},
                "tags": [prefix],
            }
            for n, (run_id, status) in enumerate(zip(ids, statuses, strict=True))
        ]
    )
    return ids


@pytest.fixture
def archive(dashboard: Dashboard, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """The other backend holding runs old0..old2; its location as a person types it."""
    if dashboard.backend == "sqlite":
        uri = request.getfixturevalue("postgres_uri")
        location = uri.replace("postgresql://postgres@", f"postgresql://postgres:{SECRET}@", 1)
        config = OrchestratorConfig(checkpoint_mode="postgres", postgres_uri=location, env_file=None)
    else:
        location = str(tmp_path / "orchestrator.db")
        config = OrchestratorConfig(checkpoint_mode="sqlite", sqlite_path=location, env_file=None)
    orch = Orchestrator(config)
    seed(orch, "old", ["succeeded", "failed", "interrupted"])
    orch.engine.dispose()
    yield location


def shot(page: Any, dashboard: Dashboard, name: str) -> None:
    """What the tab shows, saved beside the server's log (to look at)."""
    path = dashboard.server.folder / f"{name}-{dashboard.backend}.png"
    page.screenshot(path=path, full_page=True)
    print(f"screenshot: {path}")


def grid_text(page: Any) -> str:
    return str(main(page).get_by_test_id("stDataFrame").first.locator("table").text_content() or "")


def test_browse_an_archive_compare_with_a_live_run_then_export_and_preview_an_import(
    page: Any, dashboard: Dashboard, archive: str, tmp_path: Path
) -> None:
    live = Orchestrator(dashboard.config)
    try:
        if live.store.get_run("new0") is None:
            seed(live, "new", ["succeeded", "cancelled"])
    finally:
        live.engine.dispose()
    open_page(page, dashboard, "/", "Runs")
    wait_for(lambda: "new0" in grid_text(page), timeout=60, what="the live runs")

    sidebar = page.get_by_test_id("stSidebar")
    typed = sidebar.get_by_role("textbox", name="SQLite file or PostgreSQL URI")
    typed.fill(archive)
    typed.press("Enter")
    sidebar.get_by_role("button", name="Open archive").click()
    banner = main(page).get_by_test_id("stAlertContainer").filter(has_text="Archive:")
    banner.wait_for()
    wait_for(
        lambda: "old2" in grid_text(page) and "new0" not in grid_text(page), timeout=60, what="archive runs"
    )
    assert "read-only" in banner.inner_text()
    page.get_by_text("Move runs: export to a file, import from one").click()
    main(page).get_by_text("Off: this view is read-only").wait_for()  # no export, no import
    wait_until_drawn(page)
    body = page.locator("body").inner_text()
    assert SECRET not in body and SECRET not in page.url
    assert page.get_by_role("button", name="Review…").count() == 0  # no bulk action
    assert sidebar.get_by_role("link", name="Launch").count() == 0  # nothing to launch into
    shot(page, dashboard, "archive-runs")

    # Compare (reached by the navigation, the same session): an archived run beside a live one.
    sidebar.get_by_role("link", name="Compare").click()
    page.get_by_role("heading", level=1, name="Compare runs", exact=True).wait_for()
    banner.wait_for()
    # Pick once the page's first run is drawn, and see each choice held (in CI under load, both
    # picks were gone from the box a moment later).
    wait_until_drawn(page)
    chosen = main(page).get_by_test_id("stMultiSelect").filter(has_text="Runs (2 to ").first
    for option in ("new0", "archive:old1"):
        pick(page, "stMultiSelect", "Runs (2 to ", option)
        wait_for(lambda option=option: option in chosen.inner_text(), timeout=30, what=f"{option} chosen")
    wait_for(lambda: "2: old1 (archive)" in grid_text(page), timeout=60, what="the compare table")
    assert "1: new0" in grid_text(page)
    assert SECRET not in page.locator("body").inner_text()
    shot(page, dashboard, "archive-compare")

    # Close it: the live runs again, and Move runs on.
    sidebar.get_by_role("button", name="Close archive").click()
    sidebar.get_by_role("button", name="Open archive").wait_for()
    sidebar.get_by_role("link", name="Launch").wait_for()
    sidebar.get_by_role("link", name="Runs").click()
    page.get_by_role("heading", level=1, name="Runs", exact=True).wait_for()
    wait_for(
        lambda: "new0" in grid_text(page) and "old2" not in grid_text(page), timeout=60, what="live runs"
    )
    assert main(page).get_by_test_id("stAlertContainer").filter(has_text="Archive:").count() == 0

    page.get_by_text("Move runs: export to a file, import from one").click()
    wait_until_drawn(page)
    exported = download_by_clicking(page, page.get_by_role("button", name="Export matching runs"))
    saved = tmp_path / exported.suggested_filename
    exported.save_as(saved)
    assert saved.name.endswith(".jsonl.gz")
    records = [json.loads(line) for line in gzip.decompress(saved.read_bytes()).decode().splitlines()]
    assert sorted(r["row"]["run_id"] for r in records if r["kind"] == "run") == [
        "new0",
        "new1",
    ]  # the filter's

    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(saved)
    preview = main(page).get_by_text("The file holds 2 runs")
    preview.wait_for()
    assert "0 new, 2 already here unchanged, 0 already here with other content." in preview.inner_text()
    assert page.get_by_role("button", name="Import 0 runs").is_disabled()
    shot(page, dashboard, "move-runs")
